"""VenueConnector without a broker: venue infos are one object until routability changes."""

from __future__ import annotations

from decimal import Decimal

from router.circuit_breaker import BreakerState
from venues.connector import VenueConnector
from venues.scenario import VenueConfig
from venues.sim.faults import FaultConfig


class StubNats:
    """Enough of a NATS client to build a connector; nothing here touches the network."""

    def jetstream(self) -> object:
        return object()


def venue(name: str, fee: str, latency_ms: float) -> VenueConfig:
    return VenueConfig(name, Decimal(fee), Decimal("0.1"), latency_ms, FaultConfig(), ())


def connector() -> VenueConnector:
    venues = [venue("ALPHA", "0.3", 1.0), venue("BRAVO", "0.2", 2.0)]
    return VenueConnector(StubNats(), venues, breaker_cool_down_s=0.0)  # type: ignore[arg-type]


def test_venue_infos_carry_the_configs_and_stay_one_object() -> None:
    conn = connector()
    infos = conn.venue_infos()
    assert list(infos) == ["ALPHA", "BRAVO"]
    alpha = infos["ALPHA"]
    assert (alpha.taker_fee_bps, alpha.maker_rebate_bps, alpha.latency_ms, alpha.healthy) == (
        Decimal("0.3"),
        Decimal("0.1"),
        1.0,
        True,
    )
    assert conn.venue_infos() is infos
    conn.breaker("ALPHA").record_success(0.0)  # no change of routability: same object
    assert conn.venue_infos() is infos


def test_venue_infos_follow_the_breaker_however_it_is_changed() -> None:
    conn = connector()
    before = conn.venue_infos()
    breaker = conn.breaker("BRAVO")
    for _ in range(breaker.failure_threshold):
        breaker.record_failure(1.0)
    assert breaker.state is BreakerState.OPEN
    opened = conn.venue_infos()
    assert opened is not before
    assert (opened["ALPHA"].healthy, opened["BRAVO"].healthy) == (True, False)
    assert before["BRAVO"].healthy  # an earlier mapping never changes

    assert breaker.allows_probe(2.0)  # HALF_OPEN: still out of routing
    assert conn.venue_infos() is opened
    breaker.record_success(2.1)
    closed = conn.venue_infos()
    assert closed is not opened and closed["BRAVO"].healthy
    assert closed == before

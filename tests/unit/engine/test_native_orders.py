"""Icebergs and pegs at venues that keep them natively (issue 21): one iceberg child with
the whole order and its display quantity, one pegged child the OMS never re-pegs;
elsewhere the OMS keeps slicing and re-pegging."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal

from oms_server.domain.child import ChildState, VenueExecType
from oms_server.domain.enums import OrderState, PegType, RoutingStrategy
from oms_server.domain.order import Order
from oms_server.engine.commands import OrderCommands
from router.book import VenueCapability, VenueInfo
from tests.unit.engine.stubs import (
    ADMIN,
    ManualClock,
    ScriptedVenues,
    commands,
    request,
    settle,
    venue_report,
)
from tests.unit.engine.test_iceberg import RESTING
from tests.unit.engine.test_pegs import MovingVenues, move, pegged, resting

NATIVE = frozenset({VenueCapability.ICEBERG})


class CapableVenues(ScriptedVenues):
    """Scripted venues of which ``native`` keep icebergs themselves."""

    def __init__(self, native: set[str]) -> None:
        super().__init__()
        self.native = native

    def venue_infos(self) -> Mapping[str, VenueInfo]:
        return {
            name: dataclasses.replace(
                info, capabilities=NATIVE if name in self.native else info.capabilities
            )
            for name, info in super().venue_infos().items()
        }


def iceberg(engine: OrderCommands, venue: str) -> Order:
    wanted = dataclasses.replace(
        request("ice-1", quantity=500, limit_price=RESTING),
        display_quantity=Decimal(100),
        routing_strategy=RoutingStrategy.DIRECT,
        venue=venue,
    )
    placed = engine.submit(wanted, ADMIN)
    settle(engine)
    return placed


def test_a_venue_with_native_icebergs_gets_one_child_of_the_whole_order() -> None:
    venues = CapableVenues(native={"V1"})
    engine = commands(venues, ManualClock())
    placed = iceberg(engine, "V1")
    (child,) = venues.sent
    assert (child.venue, child.quantity, child.display_quantity) == ("V1", 500, 100)
    assert child.limit_price == RESTING
    for qty in (100, 100, 300):  # the venue refreshes its slices: no more children
        done = child.cum_qty + qty == child.quantity
        status = ChildState.FILLED if done else ChildState.PARTIALLY_FILLED
        report = venue_report(child, VenueExecType.TRADE, status, qty=qty, price=RESTING)
        engine.apply_venue_reports([report])
        settle(engine)
    held = engine.live.get(placed.order_id) or placed
    assert (held.state, held.cum_qty, len(venues.sent)) == (OrderState.FILLED, 500, 1)


def test_a_venue_without_the_capability_gets_oms_managed_slices() -> None:
    venues = CapableVenues(native={"V1"})
    engine = commands(venues, ManualClock())
    iceberg(engine, "V2")
    (child,) = venues.sent
    assert (child.venue, child.quantity, child.display_quantity) == ("V2", 100, None)


class NativePegVenues(MovingVenues):
    """Moving venues that all keep pegs themselves."""

    def venue_infos(self) -> Mapping[str, VenueInfo]:
        peg = frozenset({VenueCapability.PEG})
        return {
            n: dataclasses.replace(i, capabilities=peg) for n, i in super().venue_infos().items()
        }


def test_a_venue_with_native_pegs_gets_one_pegged_child_the_oms_never_re_pegs() -> None:
    venues = NativePegVenues()
    engine = commands(venues, ManualClock())
    placed = pegged(engine)  # primary, offset 0.02, cap 100.00, at bid 99.99
    child = resting(engine, placed)
    assert (child.peg_type, child.peg_offset, child.limit_price) == (
        PegType.PRIMARY,
        Decimal("0.02"),
        Decimal("100.00"),
    )  # the cap: the venue prices it
    for bid in ("99.95", "99.97", "99.90"):
        move(engine, venues, bid, "100.01")
    assert (venues.cancels, len(venues.sent)) == ([], 1)
    assert engine.routing.repegs == 0


def test_a_venue_without_native_pegs_still_gets_oms_re_pegs() -> None:
    venues = MovingVenues()
    engine = commands(venues, ManualClock())
    placed = pegged(engine)
    child = resting(engine, placed)
    assert (child.peg_type, child.limit_price) == (None, Decimal("99.97"))
    move(engine, venues, "99.95", "100.01")
    assert venues.cancels == [child.child_order_id]

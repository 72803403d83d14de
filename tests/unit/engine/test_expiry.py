"""Order lifetimes: expiry at the session close and at a GTD time, orders held for the
open, and start-up expiry, driven on a ManualClock through the timer handler."""

from __future__ import annotations

import asyncio
import time as wall_clock
from datetime import time
from decimal import Decimal
from typing import Any

import pytest

from oms_server.domain.child import ChildOrder, ChildState, VenueExecType
from oms_server.domain.enums import ExecType, OrderState, TimeInForce
from oms_server.domain.errors import FailedPreconditionError, ValidationError
from oms_server.domain.order import Order
from oms_server.domain.session import NS_PER_S, TradingSession
from oms_server.engine.commands import OrderCommands
from oms_server.engine.engine import OrderEngine
from oms_server.engine.expiry import MARKET_CLOSED, RECHECK_NS
from oms_server.engine.hub import ReportHub
from tests.support.waiting import eventually
from tests.unit.engine.stubs import (
    ADMIN,
    FUNDS,
    INSTRUMENTS,
    ManualClock,
    ScriptedVenues,
    StubStore,
    child,
    commands,
    order,
    reports_of,
    request,
    settle,
    venue_report,
)

#: 09:30 to 16:00 UTC, every day.
SESSION = TradingSession("UTC", time(9, 30), time(16, 0))


def at(hour: int, minute: int = 0, second: int = 0, *, day: int = 2) -> int:
    """Unix ns of ``hour:minute:second`` UTC on 1970-01-``day``."""
    return (((day - 1) * 24 + hour) * 3600 + minute * 60 + second) * NS_PER_S


CLOSE = at(16)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(at(10))


@pytest.fixture
def venues() -> ScriptedVenues:
    return ScriptedVenues()


@pytest.fixture
def engine(venues: ScriptedVenues, clock: ManualClock) -> OrderCommands:
    return commands(venues, clock, session=SESSION)


@pytest.fixture
def resting(clock: ManualClock) -> OrderCommands:
    """Commands without venues: every order rests in the OMS."""
    return commands(None, clock, session=SESSION)


def submitted(engine: OrderCommands, client_order_id: str, **terms: object) -> Order:
    accepted = engine.submit(request(client_order_id, **terms), ADMIN)  # type: ignore[arg-type]
    settle(engine)
    return accepted


def children_of(venues: ScriptedVenues, parent: Order) -> list[ChildOrder]:
    return [c for c in venues.sent if c.parent_order_id == parent.order_id]


def acknowledged(engine: OrderCommands, sent: ChildOrder) -> None:
    engine.apply_venue_reports([venue_report(sent, VenueExecType.NEW, ChildState.NEW)])
    settle(engine)


def state_of(engine: OrderCommands, order_id: str) -> OrderState:
    held = engine.live.get(order_id)
    assert held is not None
    return held.state


# -- DAY orders ---------------------------------------------------------------------------


def test_a_resting_day_order_is_canceled_at_the_venue_at_the_close_then_expired(
    engine: OrderCommands, venues: ScriptedVenues, clock: ManualClock
) -> None:
    accepted = submitted(engine, "day-1")
    (sent,) = children_of(venues, accepted)
    acknowledged(engine, sent)

    clock.now_ns = CLOSE - NS_PER_S
    assert engine.run_timers() == CLOSE
    assert not settle(engine).changes.events

    clock.now_ns = CLOSE
    engine.run_timers()
    batch = settle(engine)
    (pending,) = reports_of(batch, accepted.order_id)
    assert (pending.exec_type, pending.order_state) == (
        ExecType.PENDING_CANCEL,
        OrderState.PENDING_CANCEL,
    )
    expired_text = "DAY order expired at the session close (09:30-16:00 UTC)"
    assert pending.text == (
        "DAY order expiring at the session close (09:30-16:00 UTC): canceling at the venues"
    )
    assert venues.cancels == [sent.child_order_id]

    late = venue_report(sent, VenueExecType.TRADE, ChildState.PARTIALLY_FILLED, qty=40)
    engine.apply_venue_reports([late])
    (trade,) = reports_of(settle(engine), accepted.order_id)
    assert (trade.exec_type, trade.cum_qty) == (ExecType.TRADE, Decimal(40))

    engine.apply_venue_reports(
        [venue_report(sent, VenueExecType.CANCELED, ChildState.CANCELED, cum=40)]
    )
    (expired,) = reports_of(settle(engine), accepted.order_id)
    assert (expired.exec_type, expired.order_state) == (ExecType.EXPIRED, OrderState.EXPIRED)
    assert (expired.cum_qty, expired.leaves_qty, expired.text) == (Decimal(40), 0, expired_text)
    assert accepted.order_id not in engine.live.working


def test_a_day_order_with_nothing_at_a_venue_expires_at_the_close_at_once(
    resting: OrderCommands, clock: ManualClock
) -> None:
    accepted = submitted(resting, "day-1")
    clock.now_ns = CLOSE
    assert resting.run_timers() is None
    (expired,) = reports_of(settle(resting), accepted.order_id)
    assert (expired.exec_type, expired.order_state) == (ExecType.EXPIRED, OrderState.EXPIRED)
    assert resting.account("A").reserved_cash == 0


def test_a_gtc_order_lives_through_the_close(resting: OrderCommands, clock: ManualClock) -> None:
    accepted = submitted(resting, "gtc-1", time_in_force=TimeInForce.GTC)
    assert resting.run_timers() is None
    clock.now_ns = at(16, day=5)
    resting.run_timers()
    assert not settle(resting).changes.events
    assert state_of(resting, accepted.order_id) is OrderState.NEW


def test_a_cancel_in_flight_at_the_close_ends_canceled(
    engine: OrderCommands, venues: ScriptedVenues, clock: ManualClock
) -> None:
    accepted = submitted(engine, "day-1")
    (sent,) = children_of(venues, accepted)
    engine.cancel(accepted.order_id, ADMIN)
    settle(engine)

    clock.now_ns = CLOSE
    assert engine.run_timers() == CLOSE + RECHECK_NS  # looked at again once answered
    assert not settle(engine).changes.events
    engine.apply_venue_reports([venue_report(sent, VenueExecType.CANCELED, ChildState.CANCELED)])
    (canceled,) = reports_of(settle(engine), accepted.order_id)
    assert canceled.order_state is OrderState.CANCELED
    clock.now_ns += RECHECK_NS
    assert engine.run_timers() is None


def test_a_replacement_keeps_the_day_of_the_order_it_replaces(
    engine: OrderCommands, venues: ScriptedVenues, clock: ManualClock
) -> None:
    accepted = submitted(engine, "day-1")
    (sent,) = children_of(venues, accepted)
    engine.replace(accepted.order_id, ADMIN, Decimal(200), None, "day-1b")
    settle(engine)
    engine.apply_venue_reports([venue_report(sent, VenueExecType.CANCELED, ChildState.CANCELED)])
    settle(engine)
    successor = engine.live.get(accepted.order_id)
    assert successor is not None and successor.state is OrderState.REPLACED
    new_id = successor.replaced_by_order_id

    clock.now_ns = CLOSE
    engine.run_timers()
    (pending,) = reports_of(settle(engine), new_id)
    assert pending.order_state is OrderState.PENDING_CANCEL


# -- GTD orders ---------------------------------------------------------------------------


def test_a_gtd_order_expires_at_its_expire_time_and_works_at_venues_as_gtc(
    resting: OrderCommands, engine: OrderCommands, venues: ScriptedVenues, clock: ManualClock
) -> None:
    expire_ns = at(12)
    accepted = submitted(resting, "gtd-1", time_in_force=TimeInForce.GTD, expire_ns=expire_ns)
    assert accepted.expire_ns == expire_ns
    assert resting.run_timers() == expire_ns

    clock.now_ns = expire_ns
    resting.run_timers()
    (expired,) = reports_of(settle(resting), accepted.order_id)
    assert (expired.exec_type, expired.order_state) == (ExecType.EXPIRED, OrderState.EXPIRED)
    assert expired.text == "GTD order expired at 1970-01-02T12:00:00Z"

    routed = submitted(engine, "gtd-2", time_in_force=TimeInForce.GTD, expire_ns=at(18))
    (sent,) = children_of(venues, routed)
    assert sent.time_in_force is TimeInForce.GTC


@pytest.mark.parametrize("expire_ns", [at(10), at(9)])
def test_a_gtd_expire_time_not_in_the_future_is_refused_naming_it(
    resting: OrderCommands, expire_ns: int
) -> None:
    with pytest.raises(ValidationError) as refused:
        resting.submit(request("gtd-1", time_in_force=TimeInForce.GTD, expire_ns=expire_ns), ADMIN)
    assert refused.value.field == "expire_time"
    assert "must be in the future" in refused.value.description
    assert not list(resting.live)
    assert not settle(resting).changes


# -- outside the session ------------------------------------------------------------------


@pytest.mark.parametrize("tif", [TimeInForce.DAY, TimeInForce.IOC, TimeInForce.FOK])
def test_day_ioc_and_fok_orders_are_refused_while_the_market_is_closed(
    engine: OrderCommands, clock: ManualClock, tif: TimeInForce
) -> None:
    clock.now_ns = at(17)
    with pytest.raises(FailedPreconditionError) as refused:
        engine.submit(request("c1", time_in_force=tif), ADMIN)
    assert refused.value.reason == MARKET_CLOSED
    assert refused.value.message == (
        "the market is closed: the session is 09:30-16:00 UTC and opens next at "
        f"1970-01-03 09:30:00+00:00; {tif.value} orders are refused outside it "
        "(GTC and GTD orders are accepted and wait for the open)"
    )
    assert not list(engine.live)
    assert not settle(engine).changes


@pytest.mark.parametrize("tif", [TimeInForce.GTC, TimeInForce.GTD])
def test_gtc_and_gtd_orders_submitted_while_closed_wait_for_the_open(
    engine: OrderCommands, venues: ScriptedVenues, clock: ManualClock, tif: TimeInForce
) -> None:
    clock.now_ns = at(8)
    expire_ns = at(12) if tif is TimeInForce.GTD else None
    accepted = submitted(engine, "c1", time_in_force=tif, expire_ns=expire_ns)
    assert accepted.state is OrderState.NEW
    assert venues.sent == []
    opens = at(9, 30)
    assert engine.run_timers() == opens

    clock.now_ns = opens
    engine.run_timers()
    settle(engine)
    assert len(children_of(venues, accepted)) == 1


def test_a_gtd_order_that_expires_before_the_open_is_never_routed(
    engine: OrderCommands, venues: ScriptedVenues, clock: ManualClock
) -> None:
    clock.now_ns = at(7)
    accepted = submitted(engine, "c1", time_in_force=TimeInForce.GTD, expire_ns=at(8))
    clock.now_ns = at(9, 30)
    engine.run_timers()
    (expired,) = reports_of(settle(engine), accepted.order_id)
    assert expired.order_state is OrderState.EXPIRED
    assert venues.sent == []


# -- start-up -----------------------------------------------------------------------------


def test_start_up_expires_what_closed_while_the_oms_was_down(
    venues: ScriptedVenues, clock: ManualClock
) -> None:
    clock.now_ns = at(8, day=3)
    engine = commands(venues, clock, session=SESSION)
    quiet = order("o1", created_ns=at(10), updated_ns=at(10))
    live = order("o2", created_ns=at(11), updated_ns=at(11), arrival_price=Decimal(100))
    engine.live.add(quiet)
    engine.live.add(live)
    at_venue = child("o2.1", parent_order_id="o2", state=ChildState.NEW)
    engine.routing.load([at_venue], {"o2": 1})
    engine.expiry.load(engine.routing)

    engine.run_timers()
    batch = settle(engine)
    assert [r.order_state for r in reports_of(batch, "o1")] == [OrderState.EXPIRED]
    assert [r.order_state for r in reports_of(batch, "o2")] == [OrderState.PENDING_CANCEL]
    assert venues.cancels == ["o2.1"]


def test_a_gtc_order_accepted_while_closed_is_routed_at_the_open_after_a_restart(
    venues: ScriptedVenues, clock: ManualClock
) -> None:
    clock.now_ns = at(9, 30)
    engine = commands(venues, clock, session=SESSION)
    engine.live.add(order("o1", time_in_force=TimeInForce.GTC, created_ns=at(8)))
    engine.routing.load([], {})
    engine.expiry.load(engine.routing)

    engine.run_timers()
    settle(engine)
    assert [c.parent_order_id for c in venues.sent] == ["o1"]


# -- the timer ------------------------------------------------------------------------------


def test_the_timer_is_told_when_a_nearer_deadline_appears(resting: OrderCommands) -> None:
    told: list[int] = []
    resting.expiry.on_sooner = lambda: told.append(1)
    submitted(resting, "day-1")  # due at the close: sooner than nothing
    submitted(resting, "gtd-1", time_in_force=TimeInForce.GTD, expire_ns=at(12))
    submitted(resting, "gtd-2", time_in_force=TimeInForce.GTD, expire_ns=at(15))
    assert len(told) == 2
    assert resting.run_timers() == at(12)


async def test_the_engine_expires_a_gtd_order_on_time_by_itself() -> None:
    engine = OrderEngine(StubStore(), INSTRUMENTS, ReportHub())
    await engine.start()
    try:
        await engine.create_account("A")
        await engine.deposit("A", FUNDS)
        expire_ns = wall_clock.time_ns() + 300_000_000
        gtd = request("gtd-1", time_in_force=TimeInForce.GTD, expire_ns=expire_ns)
        accepted = await engine.submit(gtd, ADMIN)

        def expired() -> bool:
            held = engine.cached_order(accepted.order_id)
            return held is not None and held.state is OrderState.EXPIRED

        await eventually(expired, timeout_s=3.0, message="the GTD order expired")
        held = engine.cached_order(accepted.order_id)
        assert held is not None and held.updated_ns >= expire_ns
    finally:
        await engine.stop()


async def test_the_engine_stops_even_when_a_timer_wait_swallows_the_cancel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Python 3.11's wait_for loses a cancel that lands as its wait ends; stop() must
    still end the timer task (it once hung a test's teardown under load)."""
    from oms_server.engine import engine as engine_module

    real_wait_for = asyncio.wait_for
    waiting = asyncio.Event()

    async def swallowing_wait_for(aw: Any, timeout: float | None) -> Any:  # noqa: ASYNC109
        waiting.set()
        try:
            return await real_wait_for(aw, timeout)
        except asyncio.CancelledError:
            return None  # the race: the cancel is lost, the wait simply ends

    monkeypatch.setattr(engine_module.asyncio, "wait_for", swallowing_wait_for)
    engine = OrderEngine(StubStore(), INSTRUMENTS, ReportHub())
    await engine.start()
    await real_wait_for(waiting.wait(), 5)  # the timer task waits for its next due time
    await real_wait_for(engine.stop(), 5)

"""Pegged orders in the engine: a resting child that follows the book, paced (issue 21)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from decimal import Decimal

import pytest

from oms_server.domain.child import ChildOrder, ChildState, VenueExecType
from oms_server.domain.enums import OrderState, OrderType, PegType, Side
from oms_server.domain.order import Order
from oms_server.domain.peg import DEFAULT_MAX_REPEGS_PER_S
from oms_server.engine.commands import OrderCommands
from router.book import Level, VenueBook
from tests.unit.engine.stubs import (
    ADMIN,
    ManualClock,
    ScriptedVenues,
    commands,
    request,
    settle,
    venue_report,
)

SIZE = Decimal(300)


class MovingVenues(ScriptedVenues):
    """Every venue quotes one bid and one ask, moved by the test."""

    def __init__(self) -> None:
        super().__init__()
        self.bid = Decimal("99.99")
        self.ask = Decimal("100.01")

        #: Bids a venue shows above the moving bid (the OMS's own resting children, say).
        self.shown: dict[str, Level] = {}

        self._books: tuple[object, Mapping[str, VenueBook]] | None = None

    def books(self, symbol: str) -> Mapping[str, VenueBook]:
        """The same book objects until the quotes change (a venue sent no new book)."""
        state = (self.bid, self.ask, tuple(self.shown.items()))
        if self._books is None or self._books[0] != state:
            asks = (Level(self.ask, SIZE),)
            self._books = (
                state,
                {
                    v: VenueBook(v, symbol, (*self._shown(v), Level(self.bid, SIZE)), asks)
                    for v in self.names
                },
            )
        return self._books[1]

    def _shown(self, venue: str) -> tuple[Level, ...]:
        level = self.shown.get(venue)
        return (level,) if level is not None else ()


@pytest.fixture
def venues() -> MovingVenues:
    return MovingVenues()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def engine(venues: MovingVenues, clock: ManualClock) -> OrderCommands:
    return commands(venues, clock)


def pegged(
    engine: OrderCommands,
    peg_type: PegType = PegType.PRIMARY,
    *,
    side: Side = Side.BUY,
    offset: str | None = "0.02",
    cap: str | None = "100.00",
) -> Order:
    wanted = dataclasses.replace(
        request(
            "peg-1",
            side=side,
            order_type=OrderType.PEGGED,
            limit_price=None if cap is None else Decimal(cap),
        ),
        peg_type=peg_type,
        peg_offset=None if offset is None else Decimal(offset),
    )
    placed = engine.submit(wanted, ADMIN)
    settle(engine)
    return placed


def resting(engine: OrderCommands, order: Order) -> ChildOrder:
    """The order's one live child, acknowledged by its venue."""
    (child,) = engine.routing.live_children(order)
    if child.state is ChildState.PENDING_NEW:
        engine.apply_venue_reports([venue_report(child, VenueExecType.NEW, ChildState.NEW)])
        settle(engine)
    return child


def move(engine: OrderCommands, venues: MovingVenues, bid: str, ask: str) -> None:
    venues.bid, venues.ask = Decimal(bid), Decimal(ask)
    engine.trigger_stops("AAPL")
    settle(engine)


def confirm_cancel(engine: OrderCommands, child: ChildOrder) -> None:
    engine.apply_venue_reports([venue_report(child, VenueExecType.CANCELED, ChildState.CANCELED)])
    settle(engine)


def test_a_primary_buy_follows_the_bid_less_its_offset_up_to_its_cap_then_fills(
    engine: OrderCommands, venues: MovingVenues, clock: ManualClock
) -> None:
    placed = pegged(engine)  # bid 99.99, offset 0.02: 99.97
    first = resting(engine, placed)
    assert first.limit_price == Decimal("99.97")

    clock.advance(1)
    move(engine, venues, "99.99", "100.03")  # the bid did not move: nothing to do
    assert venues.cancels == []
    move(engine, venues, "100.00", "100.03")  # bid up a tick: cancel, then 99.98
    assert venues.cancels == [first.child_order_id]
    confirm_cancel(engine, first)
    second = resting(engine, placed)
    assert second.limit_price == Decimal("99.98")

    clock.advance(1)
    move(engine, venues, "100.10", "100.12")  # 100.08 is beyond the cap: 100.00
    confirm_cancel(engine, second)
    third = resting(engine, placed)
    assert third.limit_price == Decimal("100.00")
    clock.advance(1)
    move(engine, venues, "100.20", "100.22")  # still capped: the child stays
    assert venues.cancels == [first.child_order_id, second.child_order_id]

    engine.apply_venue_reports(
        [
            venue_report(
                third, VenueExecType.TRADE, ChildState.FILLED, qty=100, price=Decimal("100.00")
            )
        ]
    )
    settle(engine)
    done = engine.live.get(placed.order_id) or placed
    assert engine.routing.live_children(done) == []
    assert [c.limit_price for c in venues.sent] == [Decimal(p) for p in ("99.97", "99.98", "100")]


def test_a_flickering_book_re_pegs_at_most_the_paced_number_a_second_and_the_latest_wins(
    engine: OrderCommands, venues: MovingVenues, clock: ManualClock
) -> None:
    placed = pegged(engine, offset=None, cap=None)
    child = resting(engine, placed)
    flicker = ("100.00", "99.99")
    for step in range(100):  # a move every 10 ms for one second, each confirmed at once
        clock.advance(Decimal("0.01"))
        move(engine, venues, flicker[step % 2], "100.05")
        if child.cancel_requested:
            confirm_cancel(engine, child)
            child = resting(engine, placed)
    assert len(venues.cancels) == DEFAULT_MAX_REPEGS_PER_S  # 100 moves, 5 re-pegs

    venues.bid = Decimal("100.03")  # the last move, while the pacer holds the order back
    move(engine, venues, "100.03", "100.05")
    held = len(venues.cancels)
    due = engine.routing.run_repegs()
    assert due is not None and clock() < due <= clock() + 200_000_000  # 1/5 s at most
    assert engine.run_timers() == due  # the engine's timers wake for it
    clock.advance(Decimal("0.2"))
    engine.run_timers()  # due now: the held-back re-peg goes
    assert engine.routing.run_repegs() is None
    settle(engine)
    assert len(venues.cancels) == held + 1
    confirm_cancel(engine, child)
    assert resting(engine, placed).limit_price == Decimal("100.03")  # the latest price


def test_a_pegged_order_waits_for_the_side_it_follows(
    engine: OrderCommands, venues: MovingVenues
) -> None:
    placed = pegged(engine, PegType.MIDPOINT, side=Side.SELL, offset="0", cap=None)
    child = resting(engine, placed)  # mid 100.00 exactly
    assert child.limit_price == Decimal("100.00")
    assert engine.live.get(placed.order_id) is not None


def test_cancel_of_a_pegged_order_cancels_its_child_and_re_pegs_no_more(
    engine: OrderCommands, venues: MovingVenues, clock: ManualClock
) -> None:
    placed = pegged(engine)
    child = resting(engine, placed)
    engine.cancel(placed.order_id, ADMIN)
    settle(engine)
    confirm_cancel(engine, child)
    clock.advance(1)
    move(engine, venues, "100.00", "100.02")
    assert venues.cancels == [child.child_order_id]
    assert len(venues.sent) == 1
    assert not engine.routing.has_stops("AAPL")
    stored = engine.live.get(placed.order_id)
    assert stored is None or stored.state is OrderState.CANCELED


def test_after_a_restart_the_stored_child_is_re_pegged_as_the_book_moves(
    venues: MovingVenues,
) -> None:
    first = commands(venues, ManualClock())
    placed = pegged(first)
    child = resting(first, placed)
    stored_order = copy.copy(first.live.get(placed.order_id))
    stored_child = copy.copy(child)
    assert stored_order is not None and stored_order.peg_type is PegType.PRIMARY

    venues.bid = Decimal("99.95")  # fell while the OMS was down
    again = commands(venues, ManualClock())
    again.live.add(stored_order)
    again.routing.load([stored_child], {placed.order_id: 1})
    assert again.routing.has_stops("AAPL")
    move(again, venues, "99.95", "100.01")
    assert venues.cancels == [stored_child.child_order_id]
    confirm_cancel(again, stored_child)
    (moved,) = again.routing.live_children(stored_order)
    assert (moved.child_order_id, moved.limit_price) == (f"{placed.order_id}.2", Decimal("99.93"))


def test_a_peg_never_follows_its_own_resting_child(
    engine: OrderCommands, venues: MovingVenues, clock: ManualClock
) -> None:
    """Primary, no offset: it rests at the 99.99 bid. The others' bids fall to 99.90 while
    its venue still shows its own 100 at 99.99: that is not the market, it re-pegs. The
    cancel is confirmed before the venue sends a book without the old child: the next
    child is pegged to 99.90 all the same."""
    placed = pegged(engine, offset="0", cap=None)
    child = resting(engine, placed)
    assert child.limit_price == Decimal("99.99")
    venues.shown[child.venue] = Level(Decimal("99.99"), child.quantity)
    clock.advance(1)
    move(engine, venues, "99.90", "100.01")
    assert venues.cancels == [child.child_order_id]
    confirm_cancel(engine, child)  # the book still shows the canceled child at 99.99
    moved = resting(engine, placed)
    assert moved.limit_price == Decimal("99.90")

    venues.shown = {}  # the venue's next book: the old child gone, others' bids at 99.90
    clock.advance(1)
    move(engine, venues, "99.90", "100.01")
    assert venues.cancels == [child.child_order_id]  # it stays


def test_others_bidding_beside_its_own_child_are_the_market(
    engine: OrderCommands, venues: MovingVenues, clock: ManualClock
) -> None:
    """Others bid 99.99 beside the pegged child's own 100 there: the level is the market."""
    placed = pegged(engine, offset="0", cap=None)
    child = resting(engine, placed)
    venues.shown[child.venue] = Level(Decimal("99.99"), child.quantity + SIZE)
    clock.advance(1)
    move(engine, venues, "99.90", "100.01")
    assert venues.cancels == []  # 300 others still bid 99.99 at its venue


def test_a_replace_of_the_cap_re_pegs_the_replacing_order_within_the_new_cap(
    engine: OrderCommands, venues: MovingVenues
) -> None:
    """Primary, offset 0.02 under the 99.99 bid: 99.97. A new cap of 99.95 replaces it:
    the child is canceled and the replacing order rests at its cap; it reserves there."""
    placed = pegged(engine)
    child = resting(engine, placed)
    engine.replace(placed.order_id, ADMIN, None, Decimal("99.95"), "peg-2")
    settle(engine)
    assert venues.cancels == [child.child_order_id]
    confirm_cancel(engine, child)
    old = engine.live.get(placed.order_id)
    assert old is not None and old.replaced_by_order_id
    new = engine.live.get(old.replaced_by_order_id)
    assert new is not None and (new.peg_type, new.limit_price) == (
        PegType.PRIMARY,
        Decimal("99.95"),
    )
    assert new.reserve_price == Decimal("99.95")
    assert resting(engine, new).limit_price == Decimal("99.95")
    assert engine.routing.has_stops("AAPL")

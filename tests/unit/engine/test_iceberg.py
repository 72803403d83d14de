"""Iceberg orders in the engine: one slice of display_quantity at a time (issue 21)."""

from __future__ import annotations

import copy
import dataclasses
from decimal import Decimal

import pytest

from oms_server.domain.child import ChildOrder, ChildState, VenueExecType
from oms_server.domain.enums import OrderState, OrderType, TimeInForce
from oms_server.domain.errors import ValidationError
from oms_server.domain.order import Order
from oms_server.engine.commands import OrderCommands
from tests.unit.engine.stubs import (
    ADMIN,
    INSTRUMENTS,
    ManualClock,
    ScriptedVenues,
    commands,
    request,
    settle,
    venue_report,
)

#: Below the scripted venues' 100.01 ask: an iceberg at this price rests.
RESTING = Decimal("100.00")


@pytest.fixture
def venues() -> ScriptedVenues:
    return ScriptedVenues()


@pytest.fixture
def engine(venues: ScriptedVenues) -> OrderCommands:
    return commands(venues, ManualClock())


def iceberg(
    engine: OrderCommands, quantity: int = 500, display: int = 100, price: Decimal = RESTING
) -> Order:
    wanted = dataclasses.replace(
        request("ice-1", quantity=quantity, limit_price=price), display_quantity=Decimal(display)
    )
    placed = engine.submit(wanted, ADMIN)
    settle(engine)
    return placed


def live(engine: OrderCommands, order: Order) -> list[ChildOrder]:
    return engine.routing.live_children(order)


def fill(engine: OrderCommands, child: ChildOrder, qty: int, price: Decimal = RESTING) -> None:
    done = child.cum_qty + qty == child.quantity
    status = ChildState.FILLED if done else ChildState.PARTIALLY_FILLED
    engine.apply_venue_reports(
        [venue_report(child, VenueExecType.TRADE, status, qty=qty, price=price)]
    )
    settle(engine)


def test_a_resting_iceberg_shows_one_slice_and_the_next_when_it_fills(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    """500 at 100.00 showing 100: five slices of 100, each placed when the last filled."""
    placed = iceberg(engine)
    for n in range(1, 6):
        (slice_,) = live(engine, placed)
        assert (slice_.quantity, slice_.limit_price, len(venues.sent)) == (100, RESTING, n)
        fill(engine, slice_, 100)
    held = engine.live.get(placed.order_id) or placed
    assert (held.state, held.cum_qty, held.avg_price) == (OrderState.FILLED, 500, RESTING)
    assert held.reroutes == 0  # a filled slice is no miss
    assert live(engine, held) == []


def test_a_partly_filled_slice_stays_the_only_one_shown(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    placed = iceberg(engine)
    (slice_,) = live(engine, placed)
    fill(engine, slice_, 40)
    assert live(engine, placed) == [slice_] and len(venues.sent) == 1
    fill(engine, slice_, 60)
    (next_slice,) = live(engine, placed)
    assert next_slice.quantity == 100 and next_slice is not slice_


def test_the_last_slice_is_what_is_left(engine: OrderCommands) -> None:
    placed = iceberg(engine, quantity=250, display=100)
    sizes = []
    while slices := live(engine, placed):
        (slice_,) = slices
        sizes.append(slice_.quantity)
        fill(engine, slice_, int(slice_.quantity))
    assert sizes == [100, 100, 50]


def test_cancel_cancels_the_live_slice_and_shows_no_other(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    placed = iceberg(engine)
    (slice_,) = live(engine, placed)
    fill(engine, slice_, 30)
    engine.cancel(placed.order_id, ADMIN)
    settle(engine)
    assert venues.cancels == [slice_.child_order_id]
    engine.apply_venue_reports(
        [venue_report(slice_, VenueExecType.CANCELED, ChildState.CANCELED, cum=30)]
    )
    settle(engine)
    held = engine.live.get(placed.order_id) or placed
    assert (held.state, held.cum_qty, len(venues.sent)) == (OrderState.CANCELED, 30, 1)


def test_a_marketable_iceberg_takes_one_slice_at_a_time(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    """At 100.02 it crosses 300 at 100.01 per venue, but never routes more than 100 at once."""
    placed = iceberg(engine, quantity=300, display=100, price=Decimal("100.02"))
    while slices := live(engine, placed):
        assert sum(c.quantity for c in slices) <= 100
        for child in slices:
            fill(engine, child, int(child.quantity), Decimal("100.01"))
    held = engine.live.get(placed.order_id) or placed
    assert (held.state, held.cum_qty, held.avg_price) == (OrderState.FILLED, 300, Decimal("100.01"))
    assert all(c.quantity <= 100 for c in venues.sent)


def test_after_a_restart_the_stored_slice_fills_and_the_next_is_shown(
    venues: ScriptedVenues,
) -> None:
    first = commands(venues, ManualClock())
    placed = iceberg(first)
    (slice_,) = live(first, placed)
    stored_order = copy.copy(first.live.get(placed.order_id))
    stored_child = copy.copy(slice_)
    assert stored_order is not None and stored_order.display_quantity == 100

    again = commands(venues, ManualClock())
    again.live.add(stored_order)
    again.routing.load([stored_child], {placed.order_id: 1})
    fill(again, stored_child, 100)
    (next_slice,) = live(again, stored_order)
    assert (next_slice.child_order_id, next_slice.quantity) == (f"{placed.order_id}.2", 100)


@pytest.mark.parametrize(
    ("terms", "why"),
    [
        ({"display_quantity": Decimal(0)}, "greater than zero"),
        ({"display_quantity": Decimal(-5)}, "greater than zero"),
        ({"display_quantity": Decimal("10.5")}, "lot size"),
        ({"display_quantity": Decimal(101)}, "more than the order's quantity 100"),
        (
            {"display_quantity": Decimal(10), "time_in_force": TimeInForce.IOC},
            "cannot be IOC",
        ),
        (
            {"display_quantity": Decimal(10), "order_type": OrderType.MARKET, "limit_price": None},
            "must be empty",
        ),
        (
            {
                "display_quantity": Decimal(10),
                "order_type": OrderType.STOP_LIMIT,
                "stop_price": Decimal("100.50"),
            },
            "must be empty",
        ),
    ],
)
def test_a_bad_display_quantity_is_refused_naming_it(terms: dict[str, object], why: str) -> None:
    wanted = dataclasses.replace(request("bad-1"), **terms)  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as refused:
        wanted.check(INSTRUMENTS["AAPL"])
    assert refused.value.field == "display_quantity" and why in str(refused.value)

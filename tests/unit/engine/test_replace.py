"""The replace workflow: wait for the original's children, then REPLACED and a new order."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms_server.domain.accounts import buy_reservation
from oms_server.domain.child import ChildOrder, ChildState, VenueExecType
from oms_server.domain.enums import OrderState, OrderType
from oms_server.domain.errors import AlreadyExistsError, FailedPreconditionError, ValidationError
from oms_server.domain.order import Order
from oms_server.engine.commands import OrderCommands
from oms_server.engine.replace import check_terms
from tests.unit.engine.stubs import (
    AAPL,
    ADMIN,
    FEE_BPS,
    ScriptedVenues,
    commands,
    events,
    order,
    request,
    settle,
    venue_report,
)

MARKET_ORDER = order("o1", order_type=OrderType.MARKET, limit_price=None)


@pytest.fixture
def venues() -> ScriptedVenues:
    return ScriptedVenues()


@pytest.fixture
def engine(venues: ScriptedVenues) -> OrderCommands:
    return commands(venues)


def resting(
    engine: OrderCommands, venues: ScriptedVenues, client_order_id: str = "c1"
) -> tuple[Order, ChildOrder]:
    """A DAY buy of 100 resting at one venue (acknowledged), and its child."""
    accepted = engine.submit(request(client_order_id), ADMIN)
    settle(engine)
    (child,) = [c for c in venues.sent if c.parent_order_id == accepted.order_id]
    engine.apply_venue_reports([venue_report(child, VenueExecType.NEW, ChildState.NEW)])
    settle(engine)
    return accepted, child


def canceled_at_venue(engine: OrderCommands, child: ChildOrder) -> list[tuple[str, int, str]]:
    """The venue confirms the cancel of ``child``; the reports that follow."""
    engine.apply_venue_reports([venue_report(child, VenueExecType.CANCELED, ChildState.CANCELED)])
    return events(settle(engine))


def test_a_replace_waits_for_the_children_then_reports_replaced_and_new(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    original, child = resting(engine, venues)
    waiting = engine.replace(original.order_id, ADMIN, Decimal(200), None, "r1")
    assert venues.cancels == []  # the cancel leaves with the batch's commit
    assert events(settle(engine)) == [(original.order_id, 2, "PENDING_REPLACE")]
    assert waiting.state is OrderState.PENDING_REPLACE
    assert waiting.replaced_by_order_id  # announced while it waits
    assert venues.cancels == [child.child_order_id]
    sent_before = len(venues.sent)

    new_id = waiting.replaced_by_order_id
    assert canceled_at_venue(engine, child) == [
        (original.order_id, 3, "REPLACED"),
        (new_id, 4, "NEW"),
    ]
    new = engine.live.get(new_id)
    assert new is not None
    assert (new.state, new.quantity, new.client_order_id) == (OrderState.NEW, Decimal(200), "r1")
    assert new.replaces_order_id == original.order_id
    (routed,) = venues.sent[sent_before:]
    assert (routed.parent_order_id, routed.quantity) == (new_id, Decimal(200))
    with pytest.raises(FailedPreconditionError) as refused:
        engine.live.working_for(original.order_id, ADMIN)
    assert refused.value.reason == "ORDER_NOT_WORKING"


def test_the_replacement_keeps_the_fills_of_the_original(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    original, child = resting(engine, venues)
    fill = venue_report(child, VenueExecType.TRADE, ChildState.PARTIALLY_FILLED, qty=40)
    engine.apply_venue_reports([fill])
    settle(engine)
    waiting = engine.replace(original.order_id, ADMIN, Decimal(200), None, "r1")
    settle(engine)
    canceled_at_venue(engine, child)
    new = engine.live.get(waiting.replaced_by_order_id)
    assert new is not None
    assert (new.state, new.cum_qty, new.leaves_qty) == (
        OrderState.PARTIALLY_FILLED,
        Decimal(40),
        Decimal(160),
    )
    assert venues.sent[-1].quantity == Decimal(160)


def test_the_reservation_moves_to_the_replacement(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    original, child = resting(engine, venues)
    waiting = engine.replace(original.order_id, ADMIN, Decimal(200), Decimal("99.00"), "r1")
    settle(engine)
    canceled_at_venue(engine, child)
    account = engine.account("A")
    assert list(account.reservations) == [waiting.replaced_by_order_id]
    assert account.reserved_cash == buy_reservation(Decimal(200), Decimal("99.00"), FEE_BPS).cash


def test_a_replace_overtaken_by_fills_is_rejected_and_the_original_works_on(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    original, child = resting(engine, venues)
    waiting = engine.replace(original.order_id, ADMIN, Decimal(60), None, "r1")
    settle(engine)
    fill = venue_report(child, VenueExecType.TRADE, ChildState.PARTIALLY_FILLED, qty=70)
    engine.apply_venue_reports([fill])
    assert events(settle(engine)) == [(original.order_id, 3, "TRADE")]
    assert canceled_at_venue(engine, child) == [(original.order_id, 4, "REPLACE_REJECTED")]
    works_on = engine.live.working_for(original.order_id, ADMIN)
    assert works_on.state is OrderState.PARTIALLY_FILLED
    assert works_on.replaced_by_order_id == ""  # the announced replacement is withdrawn
    assert waiting.replaced_by_order_id not in engine.live
    rerouted = venues.sent[-1]
    assert (rerouted.parent_order_id, rerouted.quantity) == (original.order_id, Decimal(30))
    assert engine.keys.keys.get(("A", "r1")) is None  # the key is free again


def test_a_retried_replace_gets_the_waiting_original_then_the_replacement(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    original, child = resting(engine, venues)
    first = engine.replace(original.order_id, ADMIN, Decimal(200), None, "r1")
    settle(engine)
    retried = engine.replace(original.order_id, ADMIN, Decimal(200), None, "r1")
    assert not settle(engine).changes  # nothing happens twice
    assert retried == first
    canceled_at_venue(engine, child)
    done = engine.replace(original.order_id, ADMIN, Decimal(200), None, "r1")
    assert done.order_id == first.replaced_by_order_id
    assert done.replaces_order_id == original.order_id
    assert not settle(engine).changes


def test_a_replace_with_a_key_another_order_holds_already_exists(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    original, _ = resting(engine, venues)
    resting(engine, venues, "c2")
    with pytest.raises(AlreadyExistsError) as refused:
        engine.replace(original.order_id, ADMIN, Decimal(200), None, "c2")
    assert refused.value.reason == "DUPLICATE_CLIENT_ORDER_ID"
    assert not settle(engine).changes


def test_a_replace_the_halt_overtook_is_rejected_and_the_original_canceled(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    original, child = resting(engine, venues)
    engine.replace(original.order_id, ADMIN, Decimal(200), None, "r1")
    settle(engine)
    assert engine.halt("A", ADMIN, "fat finger") == 1  # cancelled once its venue answers
    settle(engine)
    assert canceled_at_venue(engine, child) == [
        (original.order_id, 3, "REPLACE_REJECTED"),
        (original.order_id, 4, "PENDING_CANCEL"),
        (original.order_id, 5, "CANCELED"),
    ]
    ended = engine.live.get(original.order_id)
    assert ended is not None and (ended.state, ended.text) == (OrderState.CANCELED, "fat finger")


def test_a_replace_without_a_client_order_id_names_the_new_order_by_its_id() -> None:
    engine = commands()  # no venues: the replace completes at once
    accepted = engine.submit(request("c1"), ADMIN)
    settle(engine)
    new = engine.replace(accepted.order_id, ADMIN, Decimal(200), None, "")
    assert new.client_order_id == new.order_id
    assert engine.keys.keys.get(("A", new.order_id)) == new.order_id


@pytest.mark.parametrize(
    ("quantity", "limit_price", "field"),
    [
        (None, Decimal("100.001"), "limit_price"),  # off the tick
        (Decimal("150.5"), None, "quantity"),  # not a whole lot
        (None, None, "quantity"),
    ],
)
def test_a_refused_replace_changes_nothing(
    engine: OrderCommands,
    venues: ScriptedVenues,
    quantity: Decimal | None,
    limit_price: Decimal | None,
    field: str,
) -> None:
    original, _ = resting(engine, venues)
    with pytest.raises(ValidationError) as refused:
        engine.replace(original.order_id, ADMIN, quantity, limit_price, "r1")
    assert refused.value.field == field
    assert not settle(engine).changes
    assert engine.live.working_for(original.order_id, ADMIN).state is OrderState.NEW
    assert venues.cancels == []


# -- check_terms --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "limit_price", "terms"),
    [
        (Decimal(200), None, (Decimal(200), Decimal("100.00"))),
        (None, Decimal("99.50"), (Decimal(100), Decimal("99.50"))),
        (Decimal(50), Decimal("99.50"), (Decimal(50), Decimal("99.50"))),
    ],
)
def test_a_replace_keeps_the_terms_it_does_not_change(
    quantity: Decimal | None, limit_price: Decimal | None, terms: tuple[Decimal, Decimal]
) -> None:
    assert check_terms(order("o1"), AAPL, quantity, limit_price) == terms


@pytest.mark.parametrize(
    ("old", "quantity", "limit_price", "field"),
    [
        (order("o1"), None, None, "quantity"),
        (order("o1"), Decimal(100), Decimal("100.00"), "quantity"),  # changes nothing
        (order("o1"), Decimal(0), None, "quantity"),
        (order("o1"), None, Decimal(0), "limit_price"),
        (MARKET_ORDER, None, Decimal(99), "limit_price"),
    ],
    ids=["nothing-asked", "nothing-changed", "zero-quantity", "zero-price", "market-price"],
)
def test_a_replace_asking_for_bad_terms_names_the_field(
    old: Order, quantity: Decimal | None, limit_price: Decimal | None, field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        check_terms(old, AAPL, quantity, limit_price)
    assert refused.value.field == field


@pytest.mark.parametrize("quantity", [Decimal(40), Decimal(30)])
def test_a_replace_may_not_go_down_to_what_is_filled(quantity: Decimal) -> None:
    partly = order("o1", state=OrderState.PARTIALLY_FILLED, cum_qty=Decimal(40))
    with pytest.raises(FailedPreconditionError) as refused:
        check_terms(partly, AAPL, quantity, None)
    assert refused.value.reason == "REPLACE_QUANTITY_TOO_LOW"

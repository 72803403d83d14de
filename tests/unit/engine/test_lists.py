"""Contingent lists in the engine: OCO, OTO and BRACKET rules run in the fill's batch."""

from __future__ import annotations

import dataclasses
from datetime import time
from decimal import Decimal

import pytest

from oms_server.domain.child import ChildOrder, ChildState, VenueExecType
from oms_server.domain.enums import ExecType, OrderState, OrderType, Side, TimeInForce
from oms_server.domain.errors import FailedPreconditionError, ValidationError
from oms_server.domain.lists import ContingencyType
from oms_server.domain.order import Order, OrderRequest
from oms_server.domain.session import NS_PER_S, TradingSession
from oms_server.engine.commands import OrderCommands
from oms_server.engine.lists import ListBook
from tests.unit.engine.stubs import (
    ADMIN,
    ManualClock,
    ScriptedVenues,
    commands,
    order,
    reports_of,
    request,
    settle,
    venue_report,
)

OCO = ContingencyType.OCO
OTO = ContingencyType.OTO
BRACKET = ContingencyType.BRACKET


@pytest.fixture
def engine() -> OrderCommands:
    return commands(ScriptedVenues(), ManualClock())


def bracket_requests(quantity: int = 100) -> list[OrderRequest]:
    """Buy 100 at 100.00 (rests), take profit: sell at 101.00, stop loss: sell stop 99.00."""
    return [
        request("entry", quantity=quantity),
        request("tp", side=Side.SELL, quantity=quantity, limit_price=Decimal("101.00")),
        request(
            "sl",
            side=Side.SELL,
            quantity=quantity,
            order_type=OrderType.STOP,
            limit_price=None,
            stop_price=Decimal("99.00"),
        ),
    ]


def submit(
    engine: OrderCommands, contingency: ContingencyType, requests: list[OrderRequest]
) -> list[Order]:
    placed = engine.submit_list(contingency, "list-1", requests, ADMIN)
    settle(engine)
    return placed


def now(engine: OrderCommands, order: Order) -> Order:
    found = engine.live.get(order.order_id) or engine.lists.members(order.list_id)
    assert isinstance(found, Order)
    return found


def live(engine: OrderCommands, order: Order) -> list[ChildOrder]:
    return engine.routing.live_children(now(engine, order))


def fill(engine: OrderCommands, child: ChildOrder, qty: int) -> None:
    done = child.cum_qty + qty == child.quantity
    status = ChildState.FILLED if done else ChildState.PARTIALLY_FILLED
    price = child.limit_price or Decimal("100.00")
    engine.apply_venue_reports(
        [venue_report(child, VenueExecType.TRADE, status, qty=qty, price=price)]
    )


def canceled(engine: OrderCommands, child: ChildOrder) -> None:
    engine.apply_venue_reports(
        [venue_report(child, VenueExecType.CANCELED, ChildState.CANCELED, qty=0)]
    )


def test_an_oco_leg_filling_cancels_the_other_in_the_same_batch(engine: OrderCommands) -> None:
    a, b = submit(
        engine, OCO, [request("a"), request("b", side=Side.SELL, limit_price=Decimal("101"))]
    )
    assert a.list_id == b.list_id != "" and (a.state, b.state) == (OrderState.NEW,) * 2
    (child_b,) = live(engine, b)
    fill(engine, live(engine, a)[0], 40)
    batch = settle(engine)
    assert [r.exec_type for r in reports_of(batch, b.order_id)] == [ExecType.PENDING_CANCEL]
    assert engine.live.get(b.order_id).state is OrderState.PENDING_CANCEL  # type: ignore[union-attr]
    canceled(engine, child_b)
    settle(engine)
    assert engine.live.get(b.order_id).state is OrderState.CANCELED  # type: ignore[union-attr]
    assert engine.live.get(a.order_id).state is OrderState.PARTIALLY_FILLED  # type: ignore[union-attr]


def test_an_oco_never_fills_more_than_its_quantity_when_fills_race(
    engine: OrderCommands,
) -> None:
    """Both legs fill in one batch before the cancel goes out: the second is cut."""
    a, b = submit(engine, OCO, [request("a"), request("b", limit_price=Decimal("99.00"))])
    child_a, child_b = live(engine, a)[0], live(engine, b)[0]
    fill(engine, child_a, 70)
    fill(engine, child_b, 100)
    settle(engine)
    total = engine.live.get(a.order_id).cum_qty + engine.live.get(b.order_id).cum_qty  # type: ignore[union-attr]
    assert total == 100
    assert engine.routing.refused_overfills == 1


def test_an_oto_releases_the_second_when_the_first_fills(engine: OrderCommands) -> None:
    first, second = submit(
        engine, OTO, [request("p"), request("s", side=Side.SELL, limit_price=Decimal("101"))]
    )
    assert (first.state, second.state) == (OrderState.NEW, OrderState.PENDING_NEW)
    assert live(engine, second) == [] and "held until" in second.text
    fill(engine, live(engine, first)[0], 100)
    batch = settle(engine)
    assert [r.exec_type for r in reports_of(batch, second.order_id)] == [ExecType.NEW]
    assert len(live(engine, second)) == 1


def test_an_oto_whose_first_is_canceled_cancels_the_rest(engine: OrderCommands) -> None:
    first, second = submit(engine, OTO, [request("p"), request("s", limit_price=Decimal("99"))])
    engine.cancel(first.order_id, ADMIN)
    canceled(engine, live(engine, first)[0])
    settle(engine)
    assert engine.live.get(second.order_id).state is OrderState.CANCELED  # type: ignore[union-attr]


def test_a_bracket_sizes_its_exits_to_the_entry_fill_and_one_exit_cancels_the_other(
    engine: OrderCommands,
) -> None:
    entry, tp, sl = submit(engine, BRACKET, bracket_requests())
    assert (tp.state, sl.state) == (OrderState.PENDING_NEW,) * 2
    fill(engine, live(engine, entry)[0], 30)
    settle(engine)
    tp_now, sl_now = engine.live.get(tp.order_id), engine.live.get(sl.order_id)
    assert tp_now is not None and sl_now is not None
    assert (tp_now.state, tp_now.quantity, sl_now.state, sl_now.quantity) == (
        OrderState.NEW,
        30,
        OrderState.NEW,
        30,
    )
    assert [c.quantity for c in live(engine, tp)] == [30] and live(engine, sl) == []
    fill(engine, live(engine, entry)[0], 20)
    batch = settle(engine)
    assert [r.exec_type for r in reports_of(batch, tp.order_id)] == [ExecType.RESTATED]
    assert (tp_now.quantity, sl_now.quantity) == (50, 50)
    assert sorted(c.quantity for c in live(engine, tp)) == [20, 30]
    fill(engine, live(engine, tp)[0], 30)
    settle(engine)
    assert sl_now.state is OrderState.CANCELED  # a waiting stop has nothing at venues
    entry_now = engine.live.get(entry.order_id)
    assert entry_now is not None and entry_now.state is OrderState.PENDING_CANCEL


def test_a_bracket_whose_entry_ends_unfilled_cancels_both_exits(engine: OrderCommands) -> None:
    entry, tp, sl = submit(engine, BRACKET, bracket_requests())
    engine.cancel(entry.order_id, ADMIN)
    canceled(engine, live(engine, entry)[0])
    settle(engine)
    for exit_ in (tp, sl):
        assert engine.live.get(exit_.order_id).state is OrderState.CANCELED  # type: ignore[union-attr]


def test_one_member_may_be_canceled_alone(engine: OrderCommands) -> None:
    entry, tp, sl = submit(engine, BRACKET, bracket_requests())
    engine.cancel(sl.order_id, ADMIN)
    settle(engine)
    fill(engine, live(engine, entry)[0], 100)
    settle(engine)
    assert engine.live.get(sl.order_id).state is OrderState.CANCELED  # type: ignore[union-attr]
    assert engine.live.get(tp.order_id).state is OrderState.NEW  # type: ignore[union-attr]


def test_a_retried_list_returns_the_orders_made_first(engine: OrderCommands) -> None:
    placed = submit(engine, OCO, [request("a"), request("b", limit_price=Decimal("99"))])
    again = engine.submit_list(
        OCO, "list-1", [request("a"), request("b", limit_price=Decimal("99"))], ADMIN
    )
    assert [o.order_id for o in again] == [o.order_id for o in placed]


@pytest.mark.parametrize(
    ("contingency", "requests", "field"),
    [
        (OCO, [request("a"), request("b", account_id="B")], "orders[1].account_id"),
        (OCO, [request("a"), dataclasses.replace(request("b"), symbol="MSFT")], "orders[1].symbol"),
        (OCO, [request("a")], "orders"),
        (BRACKET, bracket_requests()[:2], "orders"),
        (BRACKET, [*bracket_requests()[:2], request("x", side=Side.SELL)], "orders[2].order_type"),
        (
            BRACKET,
            [
                bracket_requests()[0],
                request("x", quantity=50, side=Side.SELL),
                bracket_requests()[2],
            ],
            "orders[1].quantity",
        ),
        (OCO, [request("a"), request("a")], "orders[1].client_order_id"),
    ],
)
def test_a_list_its_rules_cannot_hold_is_refused_and_nothing_stored(
    engine: OrderCommands, contingency: ContingencyType, requests: list[OrderRequest], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        engine.submit_list(contingency, "list-1", requests, ADMIN)
    assert refused.value.field == field
    assert list(engine.live) == [] and not settle(engine).changes.orders


def test_an_empty_list_client_id_is_refused(engine: OrderCommands) -> None:
    with pytest.raises(ValidationError) as refused:
        engine.submit_list(OCO, "", [request("a"), request("b")], ADMIN)
    assert refused.value.field == "list_client_id"


def test_a_list_must_fit_the_account_as_a_whole(engine: OrderCommands) -> None:
    """Two buys of 600,000 each, the account holding 1,000,000: each fits alone, the two
    together do not; refused naming the rule, nothing stored, nothing left reserved."""
    big = [request("p", quantity=6000), request("s", quantity=6000, limit_price=Decimal("99"))]
    with pytest.raises(FailedPreconditionError) as refused:
        engine.submit_list(OTO, "list-1", big, ADMIN)
    assert refused.value.reason == "RISK_INSUFFICIENT_FUNDS"
    assert list(engine.live) == [] and not settle(engine).changes.orders
    account = engine.accounts.get("A")
    assert (account.reserved_cash, account.reservations) == (0, {})
    placed = engine.submit_list(OTO, "list-2", [request("p2"), request("s2")], ADMIN)
    assert len(placed) == 2


def test_a_replaced_leg_stays_in_its_list(engine: OrderCommands) -> None:
    """Leg a (100 at 100.00) is replaced by 150 at 100.00: the new order is the leg now;
    its fill cancels leg b."""
    a, b = submit(engine, OCO, [request("a"), request("b", limit_price=Decimal("99"))])
    engine.replace(a.order_id, ADMIN, Decimal(150), None, "a2")
    canceled(engine, live(engine, a)[0])
    settle(engine)
    old = engine.live.get(a.order_id)
    assert old is not None and old.state is OrderState.REPLACED
    new = engine.live.get(old.replaced_by_order_id)
    assert new is not None and new.list_id == a.list_id
    fill(engine, live(engine, new)[0], 150)
    settle(engine)
    assert engine.live.get(b.order_id).state is OrderState.PENDING_CANCEL  # type: ignore[union-attr]
    assert [m.order_id for m in engine.lists.members(a.list_id)] == [new.order_id, b.order_id]


def test_a_bracket_entry_canceled_after_a_partial_fill_keeps_its_exits_at_the_fill(
    engine: OrderCommands,
) -> None:
    entry, tp, sl = submit(engine, BRACKET, bracket_requests())
    (child,) = live(engine, entry)
    fill(engine, child, 40)
    settle(engine)
    engine.cancel(entry.order_id, ADMIN)
    canceled(engine, child)
    settle(engine)
    assert engine.live.get(entry.order_id).state is OrderState.CANCELED  # type: ignore[union-attr]
    for exit_ in (tp, sl):
        working = engine.live.get(exit_.order_id)
        assert working is not None and (working.state, working.quantity) == (OrderState.NEW, 40)


def test_a_list_reloaded_after_a_replace_counts_the_fills_once() -> None:
    """The store holds the replaced leg (REPLACED, its 30 filled) and the order replacing
    it (the same 30 carried): the reloaded list counts 30, so leg b may still fill 70."""
    common = {"list_id": "L1", "list_role": "OCO_LEG"}
    old = order("o1", state=OrderState.REPLACED, cum_qty=Decimal(30), **common)
    new = order("o2", state=OrderState.PARTIALLY_FILLED, cum_qty=Decimal(30), **common)
    other = order("o3", state=OrderState.PENDING_CANCEL, **common)
    book = ListBook()
    book.load([old, new, other])
    assert book.members("L1") == [new, other]
    assert book.room(other) == 70


def test_a_rule_that_fails_is_logged_and_the_batch_still_seals(
    engine: OrderCommands, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    a, _ = submit(engine, OCO, [request("a"), request("b", limit_price=Decimal("99"))])

    def broken(members: list[Order]) -> None:
        raise RuntimeError("broken rule")

    monkeypatch.setattr("oms_server.engine.commands.actions", broken)
    fill(engine, live(engine, a)[0], 10)
    batch = settle(engine)
    assert [r.exec_type for r in reports_of(batch, a.order_id)] == [ExecType.TRADE]
    assert f"list {a.list_id}: a rule could not be applied" in caplog.text


def test_a_halt_cancels_held_members_too(engine: OrderCommands) -> None:
    entry, tp, sl = submit(engine, BRACKET, bracket_requests())
    engine.halt("A", ADMIN, "desk closed")
    canceled(engine, live(engine, entry)[0])
    settle(engine)
    states = [engine.live.get(o.order_id).state for o in (entry, tp, sl)]  # type: ignore[union-attr]
    assert states == [OrderState.CANCELED] * 3


def test_an_oto_whose_day_primary_expires_unfilled_cancels_the_held_rest() -> None:
    session = TradingSession("UTC", time(9, 30), time(16, 0))
    day = 2 * 24 * 3600 * NS_PER_S  # 1970-01-03 00:00 UTC
    clock = ManualClock(day + 10 * 3600 * NS_PER_S)  # 10:00, the market open
    engine = commands(ScriptedVenues(), clock, session=session)
    first, second = submit(engine, OTO, [request("p"), request("s", time_in_force=TimeInForce.GTC)])
    clock.now_ns = day + 16 * 3600 * NS_PER_S  # the close
    engine.run_timers()
    canceled(engine, live(engine, first)[0])
    settle(engine)
    assert engine.live.get(first.order_id).state is OrderState.EXPIRED  # type: ignore[union-attr]
    held = engine.live.get(second.order_id)
    assert held is not None and held.state is OrderState.CANCELED
    assert held.text.startswith(f"OTO: order {first.order_id} ended unfilled (EXPIRED)")

"""The command handlers, driven as the writer drives them: each batch sealed, then committed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms_server.domain.accounts import RiskLimits
from oms_server.domain.child import ChildOrder, ChildState, VenueExecType, VenueOrderStatus
from oms_server.domain.enums import OrderState
from oms_server.domain.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    NotFoundError,
)
from oms_server.domain.order import Order
from oms_server.engine.commands import OrderCommands
from oms_server.engine.ports import AppliedReport
from tests.unit.engine.stubs import (
    ADMIN,
    FUNDS,
    ManualClock,
    ScriptedVenues,
    commands,
    events,
    reports_of,
    request,
    settle,
    trader,
    venue_report,
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def venues() -> ScriptedVenues:
    return ScriptedVenues()


@pytest.fixture
def engine(venues: ScriptedVenues, clock: ManualClock) -> OrderCommands:
    return commands(venues, clock)


def submitted(
    engine: OrderCommands, venues: ScriptedVenues, client_order_id: str, account_id: str = "A"
) -> tuple[Order, ChildOrder]:
    """A DAY buy of 100, committed, with the one child it was routed to."""
    accepted = engine.submit(request(client_order_id, account_id=account_id), ADMIN)
    settle(engine)
    (child,) = [c for c in venues.sent if c.parent_order_id == accepted.order_id]
    return accepted, child


def acknowledged(engine: OrderCommands, child: ChildOrder) -> None:
    engine.apply_venue_reports([venue_report(child, VenueExecType.NEW, ChildState.NEW)])
    settle(engine)


def live_order(engine: OrderCommands, order_id: str) -> Order:
    """The order as the engine holds it, working or recently finished."""
    held = engine.live.get(order_id)
    assert held is not None
    return held


def state_of(engine: OrderCommands, order_id: str) -> OrderState:
    return live_order(engine, order_id).state


# -- submit -------------------------------------------------------------------------------


def test_a_submit_is_new_at_once_and_its_child_leaves_after_the_commit(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    accepted = engine.submit(request("c1"), ADMIN)
    assert accepted.state is OrderState.NEW
    batch = engine.seal()
    assert venues.sent == []  # nothing leaves before the batch is durable
    assert events(batch) == [(accepted.order_id, 1, "NEW")]
    assert batch.changes.orders[accepted.order_id][1] is True  # inserted
    (child_id,) = batch.changes.children
    assert batch.changes.children[child_id][1] is True
    engine.committed(batch)
    assert venues.sent_ids() == [child_id]
    assert venues.sent[0].parent_order_id == accepted.order_id


def test_a_retried_submit_returns_the_original_and_changes_nothing(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    original, _ = submitted(engine, venues, "c1")
    retried = engine.submit(request("c1"), ADMIN)
    assert retried == original
    assert not settle(engine).changes
    assert len(venues.sent) == 1


def test_a_refused_submit_changes_nothing_and_leaves_its_key_free(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    too_big = request("c1", quantity=20_000)  # costs twice what the account holds
    with pytest.raises(FailedPreconditionError) as refused:
        engine.submit(too_big, ADMIN)
    assert refused.value.reason == "RISK_INSUFFICIENT_FUNDS"
    assert not settle(engine).changes
    assert list(engine.live) == []
    accepted = engine.submit(request("c1"), ADMIN)  # the same key, now affordable
    assert accepted.state is OrderState.NEW


def test_a_halted_account_cannot_submit(engine: OrderCommands) -> None:
    engine.halt("A", ADMIN, "fat finger")
    settle(engine)
    with pytest.raises(FailedPreconditionError) as refused:
        engine.submit(request("c1"), ADMIN)
    assert refused.value.reason == "TRADING_HALTED"
    assert not settle(engine).changes
    assert engine.submit(request("c1", account_id="B"), ADMIN).state is OrderState.NEW


# -- cancel -------------------------------------------------------------------------------


def test_a_cancel_waits_for_the_venue_then_ends_canceled(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    accepted, child = submitted(engine, venues, "c1")
    acknowledged(engine, child)
    pending = engine.cancel(accepted.order_id, trader("A"))
    assert pending.state is OrderState.PENDING_CANCEL
    assert venues.cancels == []
    assert events(settle(engine)) == [(accepted.order_id, 2, "PENDING_CANCEL")]
    assert venues.cancels == [child.child_order_id]
    engine.apply_venue_reports([venue_report(child, VenueExecType.CANCELED, ChildState.CANCELED)])
    assert events(settle(engine)) == [(accepted.order_id, 3, "CANCELED")]
    assert engine.account("A").reserved_cash == 0
    with pytest.raises(FailedPreconditionError) as refused:
        engine.cancel(accepted.order_id, trader("A"))
    assert refused.value.reason == "ORDER_NOT_WORKING"


def test_another_accounts_order_cannot_be_canceled(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    accepted, _ = submitted(engine, venues, "c1")
    with pytest.raises(NotFoundError):
        engine.cancel(accepted.order_id, trader("B"))
    assert not settle(engine).changes
    assert state_of(engine, accepted.order_id) is OrderState.NEW


# -- the kill switch ----------------------------------------------------------------------


def test_a_halt_cancels_the_working_orders_of_that_account_only(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    a1, a1_child = submitted(engine, venues, "a1")
    a2, a2_child = submitted(engine, venues, "a2")
    b1, _ = submitted(engine, venues, "b1", account_id="B")
    assert engine.halt("A", ADMIN, "fat finger") == 2
    batch = settle(engine)
    assert [(r.order_id, r.exec_type.value) for r in batch.changes.events] == [
        (a1.order_id, "PENDING_CANCEL"),
        (a2.order_id, "PENDING_CANCEL"),
    ]
    assert {r.text for r in batch.changes.events} == {"fat finger"}
    assert batch.changes.halts["A"] is not None
    assert venues.cancels == [a1_child.child_order_id, a2_child.child_order_id]
    assert state_of(engine, b1.order_id) is OrderState.NEW
    assert engine.risk.halted("B") is None


def test_halting_every_account_ends_every_working_order() -> None:
    engine = commands()  # no venues: the cancels end the orders at once
    ids = [
        engine.submit(request(f"c{i}", account_id=a), ADMIN).order_id for i, a in enumerate("AAB")
    ]
    settle(engine)
    assert engine.halt(None, ADMIN, "market closed") == 3
    settle(engine)
    assert list(engine.live) == []
    assert {state_of(engine, order_id) for order_id in ids} == {OrderState.CANCELED}


def test_resume_lets_the_account_trade_again(engine: OrderCommands) -> None:
    engine.halt("A", ADMIN, "fat finger")
    engine.resume("A")
    changes = settle(engine).changes
    assert changes.halts == {} and changes.resumed == set()  # set and lifted in one batch
    assert engine.submit(request("c1"), ADMIN).state is OrderState.NEW


# -- accounts -----------------------------------------------------------------------------


def test_an_account_is_created_funded_and_limited_in_the_batch(engine: OrderCommands) -> None:
    created = engine.create_account("C")
    assert (created.account_id, created.cash) == ("C", Decimal(0))
    engine.deposit("C", Decimal("250.50"))
    limits = RiskLimits(max_order_quantity=Decimal(10))
    limited = engine.set_risk_limits("C", limits)
    account, is_new, _ = settle(engine).changes.accounts["C"]
    assert is_new  # inserted once, with what the batch did to it
    assert (account.cash, account.limits) == (Decimal("250.50"), limits)
    assert limited.limits == limits


def test_an_account_snapshot_is_a_copy(engine: OrderCommands) -> None:
    snapshot = engine.account("A")
    snapshot.cash = Decimal(0)
    snapshot.positions.clear()
    assert engine.account("A").cash == FUNDS
    assert engine.account("A").positions


def test_accounts_are_created_once_and_must_exist(engine: OrderCommands) -> None:
    with pytest.raises(AlreadyExistsError):
        engine.create_account("A")
    with pytest.raises(NotFoundError):
        engine.account("NOBODY")
    with pytest.raises(NotFoundError):
        engine.deposit("NOBODY", Decimal(1))
    assert not settle(engine).changes


# -- venue reports ------------------------------------------------------------------------


def test_a_fill_is_reported_on_the_parent_and_moves_the_cash(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    accepted, child = submitted(engine, venues, "c1")
    fill = venue_report(child, VenueExecType.TRADE, ChildState.PARTIALLY_FILLED, qty=40)
    engine.apply_venue_reports([fill])
    batch = settle(engine)
    (trade,) = reports_of(batch, accepted.order_id)
    assert (trade.exec_type.value, trade.order_state) == ("TRADE", OrderState.PARTIALLY_FILLED)
    assert (trade.last_qty, trade.last_price, trade.last_venue) == (
        Decimal(40),
        Decimal("100.00"),
        child.venue,
    )
    assert (trade.cum_qty, trade.leaves_qty) == (Decimal(40), Decimal(60))
    assert batch.changes.executions == [AppliedReport(fill, accepted.order_id, trade.exec_id)]
    assert engine.account("A").cash == FUNDS - Decimal(4000)
    assert engine.stats.fills == 1


def test_a_venue_report_delivered_twice_counts_once(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    accepted, child = submitted(engine, venues, "c1")
    fill = venue_report(child, VenueExecType.TRADE, ChildState.PARTIALLY_FILLED, qty=40)
    engine.apply_venue_reports([fill])
    settle(engine)
    engine.apply_venue_reports([fill])
    assert not settle(engine).changes
    assert engine.routing.ignored_reports == 1
    assert live_order(engine, accepted.order_id).cum_qty == 40


def test_reports_reach_subscribers_only_once_committed(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    subscription = engine.hub.subscribe("A")
    engine.submit(request("c1"), ADMIN)
    batch = engine.seal()
    assert engine.hub.last_sequence("A") == 0
    engine.committed(batch)
    assert engine.hub.last_sequence("A") == 1
    assert subscription.start_after == 0


def test_a_finished_order_is_retired_once_its_batch_commits(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    accepted, child = submitted(engine, venues, "c1")
    engine.apply_venue_reports(
        [venue_report(child, VenueExecType.TRADE, ChildState.FILLED, qty=100)]
    )
    batch = engine.seal()
    assert accepted.order_id in [o.order_id for o in engine.live]  # still working until then
    engine.committed(batch)
    assert [o.order_id for o in engine.live] == []
    assert state_of(engine, accepted.order_id) is OrderState.FILLED


# -- reconciliation -----------------------------------------------------------------------


def test_a_child_waits_on_its_venue_until_acknowledged(
    engine: OrderCommands, venues: ScriptedVenues, clock: ManualClock
) -> None:
    _, child = submitted(engine, venues, "c1")
    assert engine.stale_children() == []  # within the ack timeout
    clock.advance(3)
    (stale,) = engine.stale_children()
    assert stale.child_order_id == child.child_order_id
    assert stale is not child  # a snapshot, safe outside the writer
    acknowledged(engine, child)
    clock.advance(3)
    assert engine.stale_children() == []
    assert [c.child_order_id for c in engine.open_children()] == [child.child_order_id]


def test_a_child_its_venue_never_saw_is_resent_then_rejected(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    accepted, child = submitted(engine, venues, "c1")
    for resend in range(1, engine.policy.max_resends + 1):
        engine.reconcile(child.venue, {child.child_order_id: None})
        assert venues.sent_ids().count(child.child_order_id) == resend  # not yet: after commit
        settle(engine)
        assert venues.sent_ids().count(child.child_order_id) == resend + 1
    venues.down = set(venues.names)  # nowhere left to route the order to
    engine.reconcile(child.venue, {child.child_order_id: None})
    batch = settle(engine)
    assert venues.sent_ids().count(child.child_order_id) == engine.policy.max_resends + 1
    assert engine.reconcile_stats.resent_orders == engine.policy.max_resends
    assert engine.reconcile_stats.given_up == 1
    given_up = batch.changes.children[child.child_order_id][0]
    assert given_up.state is ChildState.REJECTED
    assert "never acknowledged" in given_up.text
    (rejected,) = reports_of(batch, accepted.order_id)
    assert (rejected.exec_type.value, rejected.order_state) == ("REJECTED", OrderState.REJECTED)
    assert rejected.text  # the reason nothing could be routed


def test_an_order_whose_child_was_never_seen_is_routed_again(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    accepted, child = submitted(engine, venues, "c1")
    for _ in range(engine.policy.max_resends + 1):
        engine.reconcile(child.venue, {child.child_order_id: None})
        settle(engine)
    rerouted = venues.sent[-1]
    assert rerouted.child_order_id != child.child_order_id
    assert (rerouted.parent_order_id, rerouted.quantity) == (accepted.order_id, Decimal(100))
    assert state_of(engine, accepted.order_id) is OrderState.NEW


def test_a_lost_cancel_is_resent_only_after_the_ack_timeout(
    engine: OrderCommands, venues: ScriptedVenues, clock: ManualClock
) -> None:
    accepted, child = submitted(engine, venues, "c1")
    acknowledged(engine, child)
    engine.cancel(accepted.order_id, ADMIN)
    settle(engine)
    still_working = {
        child.child_order_id: VenueOrderStatus(
            child.child_order_id, ChildState.NEW, Decimal(0), Decimal(100)
        )
    }
    clock.advance(1)
    engine.reconcile(child.venue, still_working)
    settle(engine)
    assert venues.cancels == [child.child_order_id]  # the first one only
    clock.advance(2)
    engine.reconcile(child.venue, still_working)
    assert venues.cancels == [child.child_order_id]  # the resend leaves with the commit
    settle(engine)
    assert venues.cancels == [child.child_order_id] * 2
    assert engine.reconcile_stats.resent_cancels == 1


def test_fills_the_engine_missed_are_applied_from_the_venues_status(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    accepted, child = submitted(engine, venues, "c1")
    missed = venue_report(child, VenueExecType.TRADE, ChildState.FILLED, qty=100)
    status = VenueOrderStatus(
        child.child_order_id, ChildState.FILLED, Decimal(100), Decimal(0), fills=(missed,)
    )
    engine.reconcile(child.venue, {child.child_order_id: status})
    batch = settle(engine)
    assert [r.exec_type.value for r in reports_of(batch, accepted.order_id)] == ["TRADE"]
    assert state_of(engine, accepted.order_id) is OrderState.FILLED
    assert [applied.report for applied in batch.changes.executions] == [missed]


def test_reconcile_passes_over_children_it_does_not_hold(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    engine.reconcile("V1", {"nobody.1": None})
    assert not settle(engine).changes
    assert venues.sent == []

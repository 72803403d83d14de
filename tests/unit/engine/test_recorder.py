"""The batch recorder: what a batch changed, numbered reports, and work for after the commit."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from oms_server.domain.accounts import Account
from oms_server.domain.child import ChildState, VenueExecType, VenueReport
from oms_server.domain.enums import ExecType, OrderState
from oms_server.domain.order import Order
from oms_server.engine.ports import AppliedReport, Halt
from oms_server.engine.recorder import BatchRecorder
from tests.unit.engine.stubs import START_NS, ManualClock, child, order


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def recorder(clock: ManualClock) -> BatchRecorder:
    return BatchRecorder(clock)


def test_seal_hands_over_the_batch_and_starts_an_empty_one(recorder: BatchRecorder) -> None:
    recorder.touch_order(order("o1"))
    recorder.after_commit(lambda: None)
    sealed = recorder.seal()
    assert list(sealed.changes.orders) == ["o1"]
    assert len(sealed.after_commit) == 1
    following = recorder.seal()
    assert not following.changes
    assert following.after_commit == []


@pytest.mark.parametrize(
    ("marks", "is_new"),
    [
        ((False,), False),
        ((True,), True),
        ((True, False), True),  # a row inserted by this batch is not "updated" by it
        ((False, True), True),
    ],
)
def test_an_order_new_in_its_batch_stays_new(
    recorder: BatchRecorder, marks: tuple[bool, ...], is_new: bool
) -> None:
    o1 = order("o1")
    for mark in marks:
        recorder.touch_order(o1, is_new=mark)
    assert recorder.seal().changes.orders == {"o1": (o1, is_new)}


def test_a_child_new_in_its_batch_stays_new_and_is_an_update_in_the_next(
    recorder: BatchRecorder,
) -> None:
    c1 = child("o1.1")
    recorder.touch_child(c1, is_new=True)
    recorder.touch_child(c1)
    assert recorder.seal().changes.children == {"o1.1": (c1, True)}
    recorder.touch_child(c1)
    assert recorder.seal().changes.children == {"o1.1": (c1, False)}


def test_reports_are_numbered_per_account_after_the_stored_sequences(clock: ManualClock) -> None:
    recorder = BatchRecorder(clock, sequences={"A": 41})
    a1, a2, b1 = order("a1"), order("a2"), order("b1", account_id="B")
    numbered = [
        recorder.report(a1, ExecType.NEW).sequence,
        recorder.report(b1, ExecType.NEW).sequence,
        recorder.report(a2, ExecType.NEW).sequence,
        recorder.report(a1, ExecType.PENDING_CANCEL).sequence,
    ]
    assert numbered == [42, 1, 43, 44]
    assert recorder.sequences == {"A": 44, "B": 1}
    recorder.seal()
    assert recorder.report(b1, ExecType.CANCELED).sequence == 2  # numbering spans batches


def test_a_report_describes_the_order_now_and_marks_it_for_the_commit(
    recorder: BatchRecorder, clock: ManualClock
) -> None:
    changed: list[Order] = []
    recorder.on_order_changed = changed.append
    o1 = order("o1", state=OrderState.NEW, version=3)
    clock.advance(5)
    report = recorder.report(o1, ExecType.NEW, text="hello")
    assert (o1.version, o1.updated_ns) == (4, START_NS + 5_000_000_000)
    assert report.exec_id == "o1.4"
    assert (report.order_state, report.leaves_qty, report.text) == (
        OrderState.NEW,
        Decimal(100),
        "hello",
    )
    assert report.transact_ns == clock.now_ns
    assert changed == [o1]
    batch = recorder.seal()
    assert batch.changes.events == [report]
    assert batch.changes.orders == {"o1": (o1, False)}


def test_a_report_keeps_an_order_new_in_its_batch_new(recorder: BatchRecorder) -> None:
    o1 = order("o1")
    recorder.touch_order(o1, is_new=True)
    recorder.report(o1, ExecType.NEW)
    assert recorder.seal().changes.orders == {"o1": (o1, True)}


def test_a_fill_report_carries_the_last_fill(recorder: BatchRecorder) -> None:
    o1 = order("o1", state=OrderState.PARTIALLY_FILLED, cum_qty=Decimal(40))
    report = recorder.report(
        o1, ExecType.TRADE, last_qty=Decimal(40), last_price=Decimal("99.5"), last_venue="V1"
    )
    assert (report.last_qty, report.last_price, report.last_venue) == (
        Decimal(40),
        Decimal("99.5"),
        "V1",
    )
    assert report.leaves_qty == Decimal(60)


def test_applied_venue_reports_are_journaled_with_their_parent(recorder: BatchRecorder) -> None:
    fill = VenueReport("V1", "x1", "o1.1", VenueExecType.TRADE, ChildState.FILLED)
    recorder.record_execution(fill, "o1", "o1.3")
    assert recorder.seal().changes.executions == [AppliedReport(fill, "o1", "o1.3")]


@pytest.mark.parametrize(
    ("marks", "is_new"), [((False,), False), ((True, False), True), ((False, True), True)]
)
def test_accounts_and_positions_new_in_their_batch_stay_new(
    recorder: BatchRecorder, clock: ManualClock, marks: tuple[bool, ...], is_new: bool
) -> None:
    account = Account("A")
    for mark in marks:
        clock.advance(1)
        recorder.touch_account(account, now_ns=clock.now_ns, is_new=mark)
        recorder.touch_position(account, "AAPL", is_new=mark)
    changes = recorder.seal().changes
    assert changes.accounts == {"A": (account, is_new, clock.now_ns)}  # the latest time
    assert changes.positions == {("A", "AAPL"): (account, is_new)}


def test_halts_set_and_cleared_are_recorded_by_scope(recorder: BatchRecorder) -> None:
    first = Halt("A", "risk", "ops", 1)
    again = Halt("A", "still risk", "ops", 2)
    recorder.set_halt(first, is_new=True)
    recorder.set_halt(again, is_new=False)
    recorder.set_halt(Halt("*", "all", "ops", 3), is_new=False)
    recorder.clear_halt("*")
    changes = recorder.seal().changes
    assert changes.halts == {"A": (again, True)}
    assert changes.resumed == {"*"}  # a stored halt lifted: its row is deleted


def test_after_commit_work_belongs_to_its_batch_in_order(recorder: BatchRecorder) -> None:
    ran: list[str] = []
    recorder.after_commit(lambda: ran.append("first"))
    recorder.after_commit(lambda: ran.append("second"))
    batch = recorder.seal()
    recorder.after_commit(lambda: ran.append("next batch"))
    assert ran == []  # nothing runs before the commit
    for callback in batch.after_commit:
        callback()
    assert ran == ["first", "second"]


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.touch_order(order("o1")),
        lambda r: r.touch_child(child("o1.1")),
        lambda r: r.report(order("o1"), ExecType.NEW),
        lambda r: r.record_execution(
            VenueReport("V1", "x1", "o1.1", VenueExecType.NEW, ChildState.NEW), "o1"
        ),
        lambda r: r.touch_account(Account("A"), now_ns=1),
        lambda r: r.touch_position(Account("A"), "AAPL", is_new=True),
        lambda r: r.set_halt(Halt("A", "risk", "ops", 1), is_new=True),
        lambda r: r.clear_halt("A"),
    ],
    ids=["order", "child", "report", "execution", "account", "position", "halt", "resume"],
)
def test_every_kind_of_change_makes_the_batch_worth_a_commit(
    recorder: BatchRecorder, change: Callable[[BatchRecorder], object]
) -> None:
    assert not recorder.seal().changes
    change(recorder)
    assert recorder.seal().changes


def test_after_commit_work_alone_needs_no_commit(recorder: BatchRecorder) -> None:
    recorder.after_commit(lambda: None)
    assert not recorder.seal().changes


def test_now_is_the_injected_clock(recorder: BatchRecorder, clock: ManualClock) -> None:
    clock.advance(2)
    assert recorder.now_ns() == START_NS + 2_000_000_000

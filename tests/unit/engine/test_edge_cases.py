"""Edge cases of the split engine, each of which failed before its fix: races between a
stop or a failed commit and queued callers, a halt lifted and set in one batch, a replace
overtaken by a fill, a key held by a pending replace, and children whose cancel is pending."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from oms_server.domain.child import ChildState, VenueExecType, VenueOrderStatus
from oms_server.domain.enums import OrderState
from oms_server.domain.errors import AlreadyExistsError, UnavailableError
from oms_server.engine.accounts import AccountBook
from oms_server.engine.engine import OrderEngine
from oms_server.engine.hub import ReportHub
from oms_server.engine.idempotency import NeedsStoreRead
from oms_server.engine.recorder import BatchRecorder
from oms_server.engine.risk_gate import RiskGate
from oms_server.store.repository import Store
from tests.unit.engine.stubs import (
    ADMIN,
    FEE_BPS,
    INSTRUMENTS,
    ManualClock,
    ScriptedVenues,
    StubStore,
    commands,
    request,
    settle,
    venue_report,
)
from tests.unit.engine.test_writer import Harness


@pytest.mark.timeout(10)
async def test_a_caller_waiting_for_room_is_answered_when_the_commit_fails() -> None:
    harness = Harness(queue_size=1)
    harness.writer.start()
    harness.store.failures = [RuntimeError("constraint failed")]
    harness.store.hold()
    failing = harness.send(harness.touch("o1"))
    await harness.commit_waiting()
    queued = harness.send(harness.touch("o2"))
    waiting = harness.send(harness.touch("o3"), wait_for_room=True)  # a venue report
    await harness.sent(3)
    harness.store.release()
    outcomes = await asyncio.wait_for(
        asyncio.gather(failing, queued, waiting, return_exceptions=True), timeout=2
    )
    assert all(isinstance(outcome, UnavailableError) for outcome in outcomes)


@pytest.mark.timeout(10)
async def test_a_call_made_while_the_writer_stops_is_answered() -> None:
    harness = Harness()
    harness.writer.start()
    harness.store.hold()
    committing = harness.send(harness.touch("o1"))
    await harness.commit_waiting()
    stopping = asyncio.create_task(harness.writer.stop())  # runs (and queues) first
    late = harness.send(harness.touch("o2"))
    await harness.sent(2)
    harness.store.release()
    await stopping
    assert await committing == "o1"
    with pytest.raises(UnavailableError):  # answered, never left waiting
        await asyncio.wait_for(late, timeout=2)


@pytest.mark.timeout(10)
async def test_resuming_and_halting_a_stored_scope_in_one_batch_commits(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'oms.db'}")
    try:
        recorder = BatchRecorder(ManualClock())
        gate = RiskGate(AccountBook(recorder, FEE_BPS), recorder)
        gate.halt("A", ADMIN, "first")
        await store.commit(store.seal(recorder.seal().changes))
        gate.resume("A")
        gate.halt("A", ADMIN, "again")  # the same batch: the row exists in the store
        await store.commit(store.seal(recorder.seal().changes))
        assert [h.reason for h in await store.load_halts()] == ["again"]
    finally:
        await store.close()


def test_a_replace_overtaken_by_a_full_fill_leaves_no_replacement_behind() -> None:
    venues = ScriptedVenues()
    engine = commands(venues)
    original = engine.submit(request("c1"), ADMIN)
    settle(engine)
    child = venues.sent[-1]
    engine.replace(original.order_id, ADMIN, Decimal(200), None, "r1")
    settle(engine)
    engine.apply_venue_reports(
        [venue_report(child, VenueExecType.TRADE, ChildState.FILLED, qty=100)]
    )
    settle(engine)
    filled = engine.live.get(original.order_id)
    assert filled is not None and filled.state is OrderState.FILLED
    assert filled.replaced_by_order_id == ""  # the replacement was never made
    assert engine.keys.keys.get(("A", "r1")) is None  # so its key is free


def test_a_submit_reusing_the_key_of_a_waiting_replace_needs_no_store_read() -> None:
    venues = ScriptedVenues()
    engine = commands(venues)
    original = engine.submit(request("c1"), ADMIN)
    settle(engine)
    engine.replace(original.order_id, ADMIN, Decimal(200), None, "r1")
    settle(engine)
    try:
        engine.submit(request("r1"), ADMIN)
    except NeedsStoreRead as needed:  # the order it names was never stored
        pytest.fail(f"asks the store for {needed.order_id}, which no store holds")
    except AlreadyExistsError:
        pass


@pytest.mark.timeout(10)
async def test_the_facade_refuses_a_submit_reusing_a_waiting_replaces_key_as_a_duplicate() -> None:
    venues = ScriptedVenues()
    engine = OrderEngine(StubStore(), INSTRUMENTS, ReportHub(), venues=venues)
    await engine.start()
    try:
        await engine.create_account("A")
        await engine.deposit("A", Decimal(1_000_000))
        original = await engine.submit(request("c1"), ADMIN)
        await engine.replace(
            original.order_id, ADMIN, quantity=Decimal(200), limit_price=None, client_order_id="r1"
        )
        with pytest.raises(AlreadyExistsError):
            await engine.submit(request("r1"), ADMIN)
    finally:
        await engine.stop()


def test_a_child_whose_cancel_is_pending_is_not_sent_again() -> None:
    venues = ScriptedVenues()
    engine = commands(venues)
    original = engine.submit(request("c1"), ADMIN)
    settle(engine)
    child = venues.sent[-1]
    engine.cancel(original.order_id, ADMIN)  # the client no longer wants the order
    settle(engine)
    engine.reconcile(child.venue, {child.child_order_id: None})  # the venue never saw it
    settle(engine)
    assert venues.sent_ids().count(child.child_order_id) == 1


def test_a_lost_cancel_is_resent_once_per_ack_timeout() -> None:
    venues, clock = ScriptedVenues(), ManualClock()
    engine = commands(venues, clock)
    original = engine.submit(request("c1"), ADMIN)
    settle(engine)
    child = venues.sent[-1]
    engine.apply_venue_reports([venue_report(child, VenueExecType.NEW, ChildState.NEW)])
    engine.cancel(original.order_id, ADMIN)
    settle(engine)
    working = {
        child.child_order_id: VenueOrderStatus(
            child.child_order_id, ChildState.NEW, Decimal(0), Decimal(100)
        )
    }
    clock.advance(3)
    engine.reconcile(child.venue, working)
    settle(engine)
    clock.advance(Decimal("0.5"))  # the connector's next pass
    engine.reconcile(child.venue, working)
    settle(engine)
    assert venues.cancels == [child.child_order_id] * 2  # the first, and one resend

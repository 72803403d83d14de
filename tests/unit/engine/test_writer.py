"""The single writer: group commit, answers only after the commit, back-pressure, failure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from oms_server.domain.errors import (
    FailedPreconditionError,
    ResourceExhaustedError,
    UnavailableError,
)
from oms_server.engine.idempotency import NeedsKeyLookup
from oms_server.engine.recorder import Batch, BatchRecorder
from oms_server.engine.writer import COMMIT_ATTEMPTS, SingleWriter
from tests.support.waiting import eventually
from tests.unit.engine.stubs import ManualClock, StubStore, order


class Harness:
    """A writer over a stub store, whose commands touch orders in a real batch recorder."""

    def __init__(self, *, max_batch: int = 512, queue_size: int = 64) -> None:
        self.store = StubStore()
        self.recorder = BatchRecorder(ManualClock())
        #: The order ids of each batch ``committed`` finished.
        self.finished: list[list[str]] = []
        self.executed: list[str] = []
        self.queued = 0
        self.answered_before_committed = False
        self.writer = SingleWriter(
            self.store,
            self.recorder.seal,
            self._committed,
            max_batch=max_batch,
            queue_size=queue_size,
        )
        self.tasks: list[asyncio.Task[Any]] = []

    def _committed(self, batch: Batch) -> None:
        self.finished.append(list(batch.changes.orders))
        self.answered_before_committed |= any(task.done() for task in self.tasks)

    def touch(self, order_id: str) -> Callable[[], str]:
        """An action that changes order ``order_id`` and returns its id."""

        def action() -> str:
            self.executed.append(order_id)
            self.recorder.touch_order(order(order_id))
            return order_id

        return action

    def send(self, action: Callable[[], Any], *, wait_for_room: bool = False) -> asyncio.Task[Any]:
        """Call the writer from a task of its own (as a gRPC handler would)."""

        async def caller() -> Any:
            self.queued += 1  # call() queues the command before it first yields
            return await self.writer.call(action, wait_for_room=wait_for_room)

        task = asyncio.create_task(caller())
        self.tasks.append(task)
        return task

    async def sent(self, count: int) -> None:
        """Wait until ``count`` commands were handed to the writer."""
        await eventually(lambda: self.queued >= count, message=f"{count} commands queued")

    async def commit_waiting(self) -> None:
        await eventually(lambda: self.store.waiting, message="a commit waiting")


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    running = Harness()
    running.writer.start()
    yield running
    running.store.release()
    await running.writer.stop()


@pytest.mark.timeout(10)
async def test_a_caller_is_answered_only_after_its_batch_commits(harness: Harness) -> None:
    harness.store.hold()
    answer = harness.send(harness.touch("o1"))
    await harness.commit_waiting()
    assert harness.executed == ["o1"]
    assert not answer.done()
    assert harness.finished == []  # reports and venue messages wait for the commit too
    harness.store.release()
    assert await answer == "o1"
    assert harness.store.committed_order_ids() == [["o1"]]
    assert harness.finished == [["o1"]]
    assert not harness.answered_before_committed


@pytest.mark.timeout(10)
async def test_what_arrives_during_a_commit_goes_into_the_next_batch(harness: Harness) -> None:
    harness.store.hold()
    first = harness.send(harness.touch("o1"))
    await harness.commit_waiting()
    later = [harness.send(harness.touch(f"o{i}")) for i in (2, 3, 4)]
    await harness.sent(4)
    assert harness.executed == ["o1"]  # nothing runs ahead of the commit before it
    harness.store.release()
    assert await asyncio.gather(first, *later) == ["o1", "o2", "o3", "o4"]
    assert harness.store.committed_order_ids() == [["o1"], ["o2", "o3", "o4"]]
    assert harness.writer.stats.commits == 2


@pytest.mark.timeout(10)
async def test_a_batch_holds_at_most_max_batch_commands() -> None:
    harness = Harness(max_batch=2)
    harness.writer.start()
    harness.store.hold()
    tasks = [harness.send(harness.touch("o1"))]
    await harness.commit_waiting()
    tasks += [harness.send(harness.touch(f"o{i}")) for i in range(2, 7)]
    await harness.sent(6)
    harness.store.release()
    await asyncio.gather(*tasks)
    await harness.writer.stop()
    assert harness.store.committed_order_ids() == [["o1"], ["o2", "o3"], ["o4", "o5"], ["o6"]]


@pytest.mark.timeout(10)
async def test_a_full_queue_refuses_client_commands_with_resource_exhausted() -> None:
    harness = Harness(queue_size=1)
    harness.writer.start()
    harness.store.hold()
    committing = harness.send(harness.touch("o1"))
    await harness.commit_waiting()
    queued = harness.send(harness.touch("o2"))
    await harness.sent(2)
    with pytest.raises(ResourceExhaustedError) as refused:
        await harness.writer.call(harness.touch("o3"))
    assert refused.value.reason == "ENGINE_BUSY"
    harness.store.release()
    assert [await committing, await queued] == ["o1", "o2"]
    await harness.writer.stop()
    assert harness.executed == ["o1", "o2"]


@pytest.mark.timeout(10)
async def test_a_venue_report_waits_for_room_instead_of_being_refused() -> None:
    harness = Harness(queue_size=1)
    harness.writer.start()
    harness.store.hold()
    committing = harness.send(harness.touch("o1"))
    await harness.commit_waiting()
    queued = harness.send(harness.touch("o2"))
    waiting = harness.send(harness.touch("o3"), wait_for_room=True)
    await harness.sent(3)
    assert not waiting.done()
    harness.store.release()
    assert [await committing, await queued, await waiting] == ["o1", "o2", "o3"]
    await harness.writer.stop()


@pytest.mark.timeout(10)
async def test_a_commit_failing_with_oserror_is_retried(harness: Harness) -> None:
    harness.store.failures = [OSError("disk busy"), OSError("disk busy")]
    assert await harness.writer.call(harness.touch("o1")) == "o1"
    assert harness.store.attempts == COMMIT_ATTEMPTS
    assert harness.store.committed_order_ids() == [["o1"]]
    assert harness.writer.running


@pytest.mark.timeout(10)
async def test_a_commit_that_keeps_failing_with_oserror_stops_the_writer(
    harness: Harness,
) -> None:
    cause = OSError("disk gone")
    harness.store.failures = [OSError("disk busy"), OSError("disk busy"), cause]
    with pytest.raises(UnavailableError):
        await harness.writer.call(harness.touch("o1"))
    assert harness.store.attempts == COMMIT_ATTEMPTS
    assert await harness.writer.wait_stopped() is cause
    assert not harness.writer.running


@pytest.mark.timeout(10)
async def test_a_failed_commit_answers_unavailable_and_nothing_after_it_runs(
    harness: Harness,
) -> None:
    cause = RuntimeError("constraint failed")
    harness.store.failures = [cause]
    harness.store.hold()
    failing = harness.send(harness.touch("o1"))
    await harness.commit_waiting()
    queued = [harness.send(harness.touch(f"o{i}")) for i in (2, 3)]
    await harness.sent(3)
    harness.store.release()
    outcomes = await asyncio.gather(failing, *queued, return_exceptions=True)
    assert all(isinstance(outcome, UnavailableError) for outcome in outcomes)
    assert harness.executed == ["o1"]
    assert harness.store.attempts == 1  # only an OSError is worth retrying
    assert harness.store.committed == []
    assert harness.finished == []  # no report or venue message of the batch leaves
    assert await harness.writer.wait_stopped() is cause
    with pytest.raises(UnavailableError):
        await harness.writer.call(harness.touch("o4"))
    assert harness.executed == ["o1"]


@pytest.mark.timeout(10)
async def test_a_refusal_is_answered_after_the_commit_and_counted(harness: Harness) -> None:
    def refuse() -> None:
        raise FailedPreconditionError("no", reason="ORDER_NOT_CANCELABLE")

    harness.store.hold()
    accepted = harness.send(harness.touch("o1"))
    refused = harness.send(refuse)
    await harness.commit_waiting()
    await harness.sent(2)
    assert not refused.done()
    harness.store.release()
    with pytest.raises(FailedPreconditionError):
        await refused
    assert await accepted == "o1"
    assert harness.writer.stats.refused == {"ORDER_NOT_CANCELABLE": 1}


@pytest.mark.timeout(10)
async def test_a_store_lookup_signal_reaches_its_caller_and_is_no_refusal(
    harness: Harness,
) -> None:
    def needs_lookup() -> None:
        raise NeedsKeyLookup(("A", "c1"))

    with pytest.raises(NeedsKeyLookup):
        await harness.writer.call(needs_lookup)
    assert harness.writer.stats.refused == {}
    assert harness.writer.running


@pytest.mark.timeout(10)
async def test_an_unexpected_error_fails_its_command_only(harness: Harness) -> None:
    def broken() -> None:
        raise ValueError("a bug in a handler")

    with pytest.raises(ValueError, match="a bug"):
        await harness.writer.call(broken)
    assert await harness.writer.call(harness.touch("o1")) == "o1"
    assert harness.writer.running


@pytest.mark.timeout(10)
async def test_a_batch_that_changed_nothing_is_answered_without_a_commit(
    harness: Harness,
) -> None:
    assert await harness.writer.call(lambda: 42) == 42
    assert harness.store.attempts == 0
    assert harness.writer.stats.commits == 0
    assert harness.finished == [[]]  # its (empty) batch is still finished


@pytest.mark.timeout(10)
async def test_stop_finishes_the_queued_commands_and_commits_them(harness: Harness) -> None:
    harness.store.hold()
    tasks = [harness.send(harness.touch("o1"))]
    await harness.commit_waiting()
    tasks.append(harness.send(harness.touch("o2")))
    await harness.sent(2)
    stopping = asyncio.create_task(harness.writer.stop())
    harness.store.release()
    await stopping
    assert [await task for task in tasks] == ["o1", "o2"]
    assert harness.store.committed_order_ids() == [["o1"], ["o2"]]
    assert await harness.writer.wait_stopped() is None
    assert not harness.writer.running
    with pytest.raises(UnavailableError):
        await harness.writer.call(harness.touch("o3"))


@pytest.mark.timeout(10)
async def test_a_writer_not_started_is_unavailable() -> None:
    harness = Harness()
    with pytest.raises(UnavailableError):
        await harness.writer.call(harness.touch("o1"))
    assert not harness.writer.running
    assert await harness.writer.wait_stopped() is None

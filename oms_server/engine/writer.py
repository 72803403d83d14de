"""The single writer: one task applies commands in batches and commits each batch once.

Callers hand it a synchronous action and await the outcome. The writer applies a run
of queued actions, seals what they changed, commits it in one transaction (group
commit: everything that arrived during a commit goes into the next one), and only
then answers the callers and lets the batch's effects leave (reports, venue messages).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from oms_server.domain.errors import OmsError, ResourceExhaustedError, UnavailableError
from oms_server.engine.idempotency import StoreLookupNeeded
from oms_server.engine.ports import OrderStore, SealedChanges
from oms_server.engine.recorder import Batch
from oms_server.histograms import Histogram
from oms_server.telemetry import tracing_enabled

log = logging.getLogger(__name__)

#: Commands applied per group commit at most.
DEFAULT_MAX_BATCH = 512
#: Commands that may wait in the queue before callers are held back.
DEFAULT_QUEUE_SIZE = 8192
#: Attempts at one commit before the writer gives up and stops.
COMMIT_ATTEMPTS = 3

_STOP = object()


@dataclass(slots=True)
class _Command:
    action: Callable[[], Any]
    future: asyncio.Future[Any]
    #: The caller's trace context, so spans the command causes join the caller's trace
    #: (None while tracing is off).
    trace_context: otel_context.Context | None


@dataclass(slots=True)
class WriterStats:
    """Counters read by the metrics endpoint."""

    commits: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    #: Seconds each group commit took, retries included.
    commit_seconds: Histogram = field(default_factory=Histogram)


class SingleWriter:
    """Runs actions one batch at a time: execute, seal, commit, answer."""

    def __init__(
        self,
        store: OrderStore[Any],
        seal: Callable[[], Batch],
        committed: Callable[[Batch], None],
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> None:
        self._store = store
        self._seal = seal
        self._committed = committed
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Command | object] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        #: Set once stop() began or the writer ended: no command is taken after it.
        self._closed = False
        self.failure: BaseException | None = None
        self.stats = WriterStats()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="order-engine")

    async def stop(self) -> None:
        """Finish the queued commands, commit them, and stop."""
        if self._task is None:
            return
        if not self._task.done() and not self._closed:
            self._closed = True
            await self._queue.put(_STOP)
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def wait_stopped(self) -> BaseException | None:
        """Wait until the writer ends; returns why it failed, or None after stop()."""
        if self._task is not None:
            await asyncio.gather(asyncio.shield(self._task), return_exceptions=True)
        return self.failure

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done() and self.failure is None

    async def call(self, action: Callable[[], Any], *, wait_for_room: bool = False) -> Any:
        """Queue ``action`` for the writer and await its outcome (after its commit).

        Client commands are refused with RESOURCE_EXHAUSTED when the queue is full
        (back-pressure the caller can see); venue reports wait for room instead.
        """
        if self.failure is not None or self._task is None or self._closed:
            raise UnavailableError("the order engine is not running")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        trace_context = otel_context.get_current() if tracing_enabled() else None
        command = _Command(action, future, trace_context)
        if wait_for_room:
            await self._queue.put(command)
            if self._task.done():  # it ended while we waited for room: nobody runs it
                self._refuse_queued()
        else:
            try:
                self._queue.put_nowait(command)
            except asyncio.QueueFull:
                raise ResourceExhaustedError(
                    "the order engine is at capacity; retry shortly", reason="ENGINE_BUSY"
                ) from None
        return await future

    async def _run(self) -> None:
        """Execute a batch of commands, commit it, answer; then the next batch.

        Executing the next batch during the commit before it (tried) made batches
        smaller and commits more frequent, and raised latency under load. No outcome,
        report or venue message of a batch leaves before its commit; the in-memory state
        is ahead of the journal only while its batch commits.
        """
        committing: asyncio.Task[None] | None = None
        stopping = False
        try:
            while not stopping and self.failure is None:
                commands, stopping = self._drain(await self._queue.get())
                outcomes = [self._execute(command) for command in commands]
                batch = self._seal()
                sealed = self._store.seal(batch.changes)
                committing = asyncio.create_task(
                    self._commit_and_answer(batch, sealed, commands, outcomes),
                    name="engine-commit",
                )
                await asyncio.shield(committing)
        finally:
            if committing is not None:  # cancelled: the commit still ends, and answers
                await asyncio.gather(committing, return_exceptions=True)
            self._closed = True
            self._refuse_queued()

    async def _commit_and_answer(
        self,
        batch: Batch,
        sealed: SealedChanges,
        commands: list[_Command],
        outcomes: list[tuple[bool, Any]],
    ) -> None:
        try:
            if sealed:
                started = time.perf_counter()
                await self._commit(sealed)
                self.stats.commit_seconds.observe(time.perf_counter() - started)
                self.stats.commits += 1
            self._committed(batch)
        except Exception as exc:
            self._fail(exc, commands)
            return
        for command, (ok, value) in zip(commands, outcomes, strict=True):
            if command.future.done():
                continue
            if ok:
                command.future.set_result(value)
            else:
                command.future.set_exception(value)

    def _drain(self, first: _Command | object) -> tuple[list[_Command], bool]:
        """``first`` and the commands queued behind it (at most max_batch); True to stop."""
        if not isinstance(first, _Command):
            return [], True
        commands = [first]
        while len(commands) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            if not isinstance(item, _Command):
                return commands, True
            commands.append(item)
        return commands, False

    def _execute(self, command: _Command) -> tuple[bool, Any]:
        if command.trace_context is None:
            return self._outcome(command.action)
        token = otel_context.attach(command.trace_context)
        try:
            return self._outcome(command.action)
        finally:
            otel_context.detach(token)

    def _outcome(self, action: Callable[[], Any]) -> tuple[bool, Any]:
        try:
            return True, action()
        except StoreLookupNeeded as signal:
            return False, signal  # answered by the caller from the store: not a refusal
        except OmsError as exc:
            self.stats.refused[exc.reason] = self.stats.refused.get(exc.reason, 0) + 1
            return False, exc
        except Exception as exc:
            log.exception("order engine command failed")
            return False, exc

    async def _commit(self, sealed: SealedChanges) -> None:
        """Commit ``sealed``; an OSError (disk, network) is retried a few times with backoff."""
        try:
            await self._store.commit(sealed)
            return
        except OSError as exc:
            log.warning("journal commit failed, retrying: %s", exc)
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(COMMIT_ATTEMPTS - 1),
            wait=wait_exponential(multiplier=0.05, max=1.0),
            retry=retry_if_exception_type(OSError),
            reraise=True,
        ):
            with attempt:
                await self._store.commit(sealed)

    def _fail(self, exc: BaseException, commands: list[_Command]) -> None:
        """Stop for good: refuse ``commands`` and everything queued, and end the writer."""
        if self.failure is None:
            log.error("order engine stopped: the journal commit failed: %s", exc)
            self.failure = exc
        self._closed = True
        for command in commands:
            if not command.future.done():
                command.future.set_exception(_store_unavailable())
        self._refuse_queued()
        self._queue.put_nowait(_STOP)  # wakes the writer task, which then ends

    def _refuse_queued(self) -> None:
        """Answer every command still queued: the writer will not run it."""
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, _Command) and not item.future.done():
                item.future.set_exception(
                    _store_unavailable()
                    if self.failure is not None
                    else UnavailableError("the order engine is stopping")
                )


def _store_unavailable() -> UnavailableError:
    return UnavailableError("the order store is unavailable; nothing was stored")

"""Following an account's StreamExecutionReports: sequences, final states, fills, latency.

A follower resumes from its last sequence when the stream ends or fails (for example a
subscriber the server dropped as too slow), so it sees every report exactly once; it
counts gaps and duplicates, which must both stay zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection
from decimal import Decimal

import grpc

from clients.bench.orders import FINAL_STATES
from clients.bench.stats import Latencies
from clients.sdk.client import STREAM_BATCH, reports_of
from protos.oms.v1 import common_pb2, order_pb2
from protos.oms.v1 import order_service_pb2 as pb
from protos.oms.v1 import order_service_pb2_grpc as pb_grpc

#: Pause before a follower reconnects after its stream failed.
RECONNECT_DELAY_S = 0.05
#: The stages of submit→final, in order (see LatencyStages).
STAGES = ("accepted", "working", "delivered")
#: How often waiters look at what has arrived.
WAIT_POLL_S = 0.02


class StreamFollower:
    """Reads one account's reports from ``from_sequence`` on, resuming after failures."""

    def __init__(
        self,
        stub: pb_grpc.OrderServiceStub,
        account_id: str,
        metadata: tuple[tuple[str, str], ...],
        from_sequence: int = 0,
    ) -> None:
        self._stub = stub
        self._metadata = metadata
        self.account_id = account_id
        self.last_sequence = from_sequence
        self.received = 0
        self.gaps = 0
        self.duplicates = 0
        self.reconnects = 0
        self.last_arrival = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"follow-{self.account_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_for_sequence(self, sequence: int, timeout_s: float) -> bool:
        """True once the report with ``sequence`` arrived; False after ``timeout_s``."""
        return await poll_until(lambda: self.last_sequence >= sequence, timeout_s)

    async def wait_idle(self, idle_s: float, timeout_s: float) -> bool:
        """True once nothing arrived for ``idle_s``; False if reports keep coming."""
        return await poll_until(lambda: time.monotonic() - self.last_arrival >= idle_s, timeout_s)

    def as_dict(self) -> dict[str, int]:
        return {
            "received": self.received,
            "last_sequence": self.last_sequence,
            "gaps": self.gaps,
            "duplicates": self.duplicates,
            "reconnects": self.reconnects,
        }

    def on_report(self, report: order_pb2.ExecutionReport) -> None:
        """Called for each new report in sequence order (duplicates are filtered out)."""

    async def _run(self) -> None:
        while True:
            request = pb.StreamExecutionReportsRequest(
                account_id=self.account_id,
                from_sequence=self.last_sequence,
                max_batch=STREAM_BATCH,
            )
            call = self._stub.StreamExecutionReports(request, metadata=self._metadata)
            try:
                async for message in call:
                    for report in reports_of(message):
                        self._accept(report)
            except grpc.aio.AioRpcError:
                pass  # resume below from the last sequence seen
            finally:
                call.cancel()
            self.reconnects += 1
            await asyncio.sleep(RECONNECT_DELAY_S)

    def _accept(self, report: order_pb2.ExecutionReport) -> None:
        self.last_arrival = time.monotonic()
        if report.sequence <= self.last_sequence:
            self.duplicates += 1
            return
        self.gaps += report.sequence - self.last_sequence - 1
        self.last_sequence = report.sequence
        self.received += 1
        self.on_report(report)


class LatencyStages:
    """Where each order's submit→final latency went, from the reports' transact times.

    - ``accepted``: from the scheduled send to the OMS accepting the order (the NEW
      report's transact time): the request's way in, the engine's queue, the risk checks;
    - ``working``: from accepted to the change the final report announces (its transact
      time): routing, the commit, the venues' round trips, applying their fills;
    - ``delivered``: from that change to the final report's arrival here: the commit
      holding it and the stream.

    Transact times are the OMS's clock and the other ends this process's, so the split
    means something only when both run on one host (as when oms-bench starts the stack).
    """

    def __init__(self) -> None:
        self.accepted = Latencies()
        self.working = Latencies()
        self.delivered = Latencies()

    def summaries(self) -> dict[str, dict[str, float]]:
        """Each stage's summary, by name, in the order of ``STAGES``."""
        return {name: getattr(self, name).summary().as_dict() for name in STAGES}


class OrderTracker(StreamFollower):
    """A follower that also tracks each order: final state, fills, venues, latency.

    ``expect(client_order_id, scheduled_ns)`` before sending an order makes the arrival of
    its final report record a latency measured from ``scheduled_ns`` (a
    ``time.perf_counter_ns()`` reading), split into ``stages``.
    """

    def __init__(
        self,
        stub: pb_grpc.OrderServiceStub,
        account_id: str,
        metadata: tuple[tuple[str, str], ...],
    ) -> None:
        super().__init__(stub, account_id, metadata)
        self.latency = Latencies()
        self.finals: dict[str, common_pb2.OrderState.ValueType] = {}
        self.order_ids: dict[str, str] = {}
        self.trade_qty: defaultdict[str, Decimal] = defaultdict(Decimal)
        self.trade_counts: Counter[str] = Counter()
        self.venues: defaultdict[str, set[str]] = defaultdict(set)
        self.trades = 0
        self.repeated_finals = 0
        self.stages = LatencyStages()
        self._scheduled: dict[str, int] = {}
        #: client order id -> transact time (ns) of its NEW report, while not final.
        self._accepted_ns: dict[str, int] = {}
        #: Add to a perf_counter_ns() reading to get the wall clock (time.time_ns()).
        self._wall_offset_ns = time.time_ns() - time.perf_counter_ns()

    def reset_latencies(self) -> None:
        """Record latencies afresh from now on (for a new measured loop)."""
        self.latency = Latencies()
        self.stages = LatencyStages()

    def expect(self, client_order_id: str, scheduled_ns: int) -> None:
        self._scheduled[client_order_id] = scheduled_ns

    def forget(self, client_order_id: str) -> None:
        """An order that was never accepted: no latency to record for it."""
        self._scheduled.pop(client_order_id, None)
        self._accepted_ns.pop(client_order_id, None)

    async def wait_final(self, client_order_ids: Collection[str], timeout_s: float) -> bool:
        """True once every one of ``client_order_ids`` reached a final state."""
        pending = set(client_order_ids)

        def done() -> bool:
            pending.difference_update([c for c in pending if c in self.finals])
            return not pending

        return await poll_until(done, timeout_s)

    def on_report(self, report: order_pb2.ExecutionReport) -> None:
        cid = report.client_order_id
        self.order_ids.setdefault(cid, report.order_id)
        if report.exec_type == common_pb2.EXEC_TYPE_NEW:
            self._note_accepted(cid, report)
        elif report.exec_type == common_pb2.EXEC_TYPE_TRADE:
            self.trades += 1
            self.trade_counts[cid] += 1
            self.trade_qty[cid] += Decimal(report.last_qty)
            self.venues[cid].add(report.last_venue)
        if report.order_state not in FINAL_STATES:
            return
        if cid in self.finals:
            self.repeated_finals += 1
            return
        self.finals[cid] = report.order_state
        scheduled = self._scheduled.pop(cid, None)
        if scheduled is not None:
            arrived = time.perf_counter_ns()
            self.latency.record_ns(arrived - scheduled)
            self._note_final(cid, report, arrived)

    def _note_accepted(self, cid: str, report: order_pb2.ExecutionReport) -> None:
        scheduled = self._scheduled.get(cid)
        if scheduled is not None:
            accepted_ns = report.transact_time.ToNanoseconds()
            self._accepted_ns[cid] = accepted_ns
            self.stages.accepted.record_ns(accepted_ns - scheduled - self._wall_offset_ns)

    def _note_final(self, cid: str, report: order_pb2.ExecutionReport, arrived: int) -> None:
        done_ns = report.transact_time.ToNanoseconds()
        accepted_ns = self._accepted_ns.pop(cid, None)
        if accepted_ns is not None:
            self.stages.working.record_ns(done_ns - accepted_ns)
        self.stages.delivered.record_ns(arrived + self._wall_offset_ns - done_ns)

    def final_states(self, client_order_ids: Collection[str]) -> dict[str, int]:
        """How many of ``client_order_ids`` ended in each state (by name; NONE: not final)."""
        names = Counter(
            common_pb2.OrderState.Name(self.finals[c]) if c in self.finals else "NONE"
            for c in client_order_ids
        )
        return dict(names)

    def venue_spread(self, client_order_ids: Collection[str]) -> dict[str, int]:
        """How many of ``client_order_ids`` filled at 0, 1, 2, 3... distinct venues."""
        return dict(Counter(str(len(self.venues.get(c, ()))) for c in client_order_ids))


async def poll_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """True once ``condition()`` holds (checked every WAIT_POLL_S); False after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(WAIT_POLL_S)
    return True

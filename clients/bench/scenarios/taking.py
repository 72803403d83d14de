"""Open-loop taking orders (split across venues), tracked to their final report.

Shared by `e2e` and `sustained`: each order is scheduled at a fixed rate, registered with
the tracker before it is sent, and its latency runs from the scheduled send time to the
arrival of its final execution report on the account's stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from clients.bench.load import LoopResult, Meter, OpenSend, open_loop
from clients.bench.orders import OrderClient
from clients.bench.procstats import CpuMeter
from clients.bench.scenarios.context import RunContext, System
from clients.bench.tracking import OrderTracker


@dataclass
class TakingRun:
    """The orders of one measured open loop and what became of them."""

    loop: LoopResult
    tracker: OrderTracker
    #: client order id -> order id, for every order the OMS accepted.
    accepted: dict[str, str] = field(default_factory=dict)
    all_final: bool = False
    #: The OMS shares this host's clock: the latency can be split into stages.
    clock_shared: bool = False

    def as_dict(self, rate: float, duration_s: float) -> dict[str, object]:
        ids = list(self.accepted)
        finals = sum(1 for c in ids if c in self.tracker.finals)
        elapsed = max(self.loop.elapsed_s, duration_s)
        return {
            "rate_per_s": rate,
            "duration_s": duration_s,
            "sent": self.loop.sent,
            "accepted": len(ids),
            "submit_errors": dict(self.loop.errors),
            "error_samples": self.loop.error_samples,
            "final": finals,
            "final_states": self.tracker.final_states(ids),
            "latency": self.tracker.latency.summary().as_dict(),
            "latency_stages": self.tracker.stages.summaries() if self.clock_shared else None,
            "ack_latency": self.loop.latency.summary().as_dict(),
            "venues_per_order": self.tracker.venue_spread(ids),
            "max_send_lag_ms": round(self.loop.max_send_lag_ms, 3),
            "aborted_after_s": self.loop.aborted_after_s,
            "stream": {
                **self.tracker.as_dict(),
                "trades": self.tracker.trades,
                "repeated_finals": self.tracker.repeated_finals,
            },
            "achieved_rate_per_s": round(self.loop.ok / elapsed, 1) if elapsed else 0.0,
            # over the loop's own time (shorter than the duration if it gave up), the time
            # its CPU was measured over
            "send_rate_per_s": (
                round(self.loop.sent / self.loop.elapsed_s, 1) if self.loop.elapsed_s else 0.0
            ),
            "server_cpu_cores": self.loop.server_cpu_cores,
            "client_cpu_cores": self.loop.client_cpu_cores,
            "server_wakeups_per_s": self.loop.server_wakeups_per_s,
        }


class TakingDriver:
    """Sends taking buys for one account on a schedule and follows their reports."""

    def __init__(self, ctx: RunContext, system: System, account: str) -> None:
        self._ctx = ctx
        self._account = account
        self.client = OrderClient(system.target.address, system.target.metadata)
        self.tracker = OrderTracker(self.client.stub, account, system.target.metadata)
        self._pid = system.target.server_pid

    async def __aenter__(self) -> TakingDriver:
        self.tracker.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.tracker.stop()
        await self.client.close()

    async def warm_up(self, label: str, rate: float, duration_s: float | None = None) -> None:
        """Unmeasured orders at ``rate`` for ``duration_s`` (default: the warm-up time),
        until they are all final."""
        ctx = self._ctx
        duration_s = ctx.load.warmup_s if duration_s is None else duration_s
        run = TakingRun(LoopResult(), self.tracker)
        async with ctx.progress.phase(f"{label} (warm-up)", duration_s):
            await open_loop(self._sender("w", run, Meter(), measure=False), rate, duration_s)
            await self.tracker.wait_final(run.accepted, ctx.load.settle_timeout_s)

    async def measure(
        self, label: str, rate: float, duration_s: float, prefix: str = "m"
    ) -> TakingRun:
        """The measured open loop, then the wait for every accepted order's final report.

        Latencies are this loop's alone; a later loop of the same driver needs another
        client order id ``prefix``."""
        ctx = self._ctx
        self.tracker.reset_latencies()
        run = TakingRun(LoopResult(), self.tracker, clock_shared=ctx.config.clock_shared)
        meter = Meter()
        cpu = CpuMeter(self._pid)
        async with ctx.progress.phase(label, duration_s, meter):
            cpu.start()
            send = self._sender(prefix, run, meter, measure=True)
            limit = max(1, int(rate * ctx.load.max_backlog_s))
            await open_loop(send, rate, duration_s, run.loop, self._behind(limit))
            cpu.stop_into(run.loop)
        async with ctx.progress.phase(f"{label}: waiting for final reports"):
            run.all_final = await self.tracker.wait_final(run.accepted, ctx.load.settle_timeout_s)
        return run

    def _behind(self, limit: int) -> Callable[[int], bool]:
        """True once more than ``limit`` of the orders sent have no final report yet."""
        tracker = self.tracker
        finals_before = len(tracker.finals)

        def behind(sent: int) -> bool:
            return sent - (len(tracker.finals) - finals_before) > limit

        return behind

    def _sender(self, prefix: str, run: TakingRun, meter: Meter, *, measure: bool) -> OpenSend:
        shape, account, client, tracker = self._ctx.shape, self._account, self.client, self.tracker

        async def send(i: int, scheduled_ns: int) -> None:
            cid = f"{prefix}{i}"
            if measure:
                tracker.expect(cid, scheduled_ns)
            try:
                response = await client.submit(shape.taking_buy(account, cid))
            except grpc.aio.AioRpcError as exc:
                tracker.forget(cid)
                run.loop.record_error(exc)
                meter.errors += 1
                return
            run.loop.latency.record_ns(time.perf_counter_ns() - scheduled_ns)
            run.loop.ok += 1
            run.accepted[cid] = response.order.order_id
            meter.done += 1

        return send

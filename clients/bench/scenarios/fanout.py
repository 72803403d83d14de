"""`fanout`: submit throughput without and with M live StreamExecutionReports subscribers.

N clients submit resting buys on one stack, in alternating slices for two accounts: M
subscribers (in a separate process) follow one of them, nobody follows the other. The
slices alternate so that a shared machine changing speed moves both figures alike.
Afterwards every subscriber must hold every report of its account: sequences 1..last,
no gap, no duplicate.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from clients.bench.load import LoopResult
from clients.bench.orders import OrderClient
from clients.bench.procs import BenchError, ManagedProcess, child_env, python_argv
from clients.bench.profiling import profiled
from clients.bench.scenarios.context import ClosedSide, RunContext, interleaved_slices
from clients.bench.stats import ratio
from clients.bench.subscribers import READY_TIMEOUT_S, TOKEN_ENV
from clients.bench.system import Target
from clients.bench.tracking import StreamFollower

_WORKER_MAIN = "import sys; from clients.bench.subscribers import main; sys.exit(main())"
#: Quiet time after which the reference reader takes the account's stream as complete.
STREAM_IDLE_S = 1.0
#: How long the worker may take to exit once it reported.
WORKER_EXIT_S = 10.0


async def run_fanout(ctx: RunContext) -> dict[str, Any]:
    """Throughput without and with ``subscribers`` followers, interleaved; all checked."""
    concurrency, count = ctx.load.concurrency, ctx.load.subscribers
    baseline = await ctx.baseline_closed(concurrency)
    quiet, busy = ctx.account("FANOUT0"), ctx.account("FANOUT1")
    async with ctx.system("fanout", [quiet, busy]) as system:
        client = OrderClient(system.target.address, system.target.metadata)
        try:
            pid = system.target.server_pid
            await client.submit(ctx.shape.resting_buy(busy, "primer", 0))
            async with SubscriberWorker(ctx, system.target, busy, count) as worker:
                async with ctx.progress.phase(f"fanout: connecting {count} subscribers"):
                    await worker.ready()
                sides = [
                    ClosedSide("fanout: no subscribers", ctx.resting_call(client, quiet, "q"), pid),
                    ClosedSide(
                        f"fanout: {count} subscribers", ctx.resting_call(client, busy, "b"), pid
                    ),
                ]
                label = f"fanout: {concurrency} clients, without and with {count} subscribers"
                profile_s = 2 * (ctx.load.duration_s + ctx.load.warmup_s)
                async with profiled(pid, ctx.config.profile_dir, "fanout", profile_s) as profiles:
                    alone, crowded = await ctx.run_closed_sliced(label, sides, concurrency)
                async with ctx.progress.phase("fanout: waiting for every subscriber"):
                    reference = await reference_count(client, busy, ctx.load.settle_timeout_s)
                    followers = await worker.finish(reference, ctx.load.settle_timeout_s)
        finally:
            await client.close()
    result = _result(ctx, baseline.as_dict(), alone, crowded, reference, followers)
    result["interleaved_slices"] = interleaved_slices(ctx.load.duration_s)
    result["profile"] = profiles[0].as_dict() if profiles else None
    return result


def _result(
    ctx: RunContext,
    baseline: dict[str, Any],
    alone: LoopResult,
    crowded: LoopResult,
    reference: int,
    followers: list[dict[str, int]],
) -> dict[str, Any]:
    last = max([reference, *(f["last_sequence"] for f in followers)])
    complete = sum(
        1
        for f in followers
        if f["last_sequence"] == last and f["received"] == last and not f["gaps"]
    )
    return {
        "concurrency": ctx.load.concurrency,
        "subscribers": ctx.load.subscribers,
        "without": alone.as_dict(),
        "with": crowded.as_dict(),
        "throughput_drop": round(1 - crowded.throughput / alone.throughput, 3)
        if alone.throughput
        else None,
        "baseline": baseline,
        "throughput_ratio": ratio(crowded.throughput, baseline["throughput_per_s"]),
        "reports_expected": last,
        "subscribers_complete": complete,
        "reconnects": sum(f["reconnects"] for f in followers),
        "followers": followers,
    }


async def reference_count(client: OrderClient, account: str, timeout_s: float) -> int:
    """The account's last sequence, read by one more follower until the stream goes quiet."""
    follower = StreamFollower(client.stub, account, client.metadata)
    follower.start()
    try:
        await follower.wait_idle(STREAM_IDLE_S, timeout_s)
    finally:
        await follower.stop()
    if follower.gaps or follower.received != follower.last_sequence:
        raise BenchError(f"the reference reader of {account} saw gaps: {follower.as_dict()}")
    return follower.last_sequence


class SubscriberWorker:
    """The subscribers' process: spawned, told what to expect, read back, stopped."""

    def __init__(self, ctx: RunContext, target: Target, account: str, count: int) -> None:
        self._argv = python_argv(
            _WORKER_MAIN, "--address", target.address, "--account", account, "--count", str(count)
        )
        self._env = child_env({TOKEN_ENV: target.token})
        self._log = ctx.workdir / "fanout" / "subscribers.log"
        self._process: ManagedProcess | None = None

    async def __aenter__(self) -> SubscriberWorker:
        self._process = await ManagedProcess.spawn(
            "subscribers", self._argv, log_path=self._log, env=self._env, pipes=True
        )
        return self

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        if self._process is None:
            return
        if exc_type is None:
            await self._process.stop_when_done(WORKER_EXIT_S)
        else:
            await self._process.stop()

    async def ready(self) -> None:
        message = await self._read(READY_TIMEOUT_S + WORKER_EXIT_S)
        if message.get("event") != "ready":
            raise BenchError(f"the subscribers did not connect: {message}")

    async def finish(self, expect: int, timeout_s: float) -> list[dict[str, int]]:
        """Tell the worker the last sequence; its subscribers' counts once they reached it."""
        process = self._process
        assert process is not None and process.proc.stdin is not None
        command = {"expect": expect, "timeout_s": timeout_s}
        process.proc.stdin.write((json.dumps(command) + "\n").encode())
        await process.proc.stdin.drain()
        message = await self._read(timeout_s + WORKER_EXIT_S)
        if message.get("event") != "done":
            raise BenchError(f"the subscribers did not finish: {message}")
        return list(message["subscribers"])

    async def _read(self, timeout_s: float) -> dict[str, Any]:
        process = self._process
        assert process is not None and process.proc.stdout is not None
        try:
            line = await asyncio.wait_for(process.proc.stdout.readline(), timeout_s)
        except TimeoutError:
            raise BenchError(f"no word from the subscribers in {timeout_s:g} s") from None
        if not line:
            raise BenchError(f"the subscriber process ended:\n{process.tail()}")
        return dict(json.loads(line))

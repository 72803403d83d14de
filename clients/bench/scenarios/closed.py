"""`baseline` and `submit`: closed-loop SubmitOrder against the echo and against the OMS."""

from __future__ import annotations

from typing import Any

from clients.bench.orders import OrderClient
from clients.bench.profiling import profiled
from clients.bench.scenarios.context import ClosedSide, RunContext, interleaved_slices
from clients.bench.stats import ratio


async def run_baseline(ctx: RunContext) -> dict[str, Any]:
    """The echo at the submit concurrency (closed loop) and at the e2e rate (open loop)."""
    closed = await ctx.baseline_closed(ctx.load.concurrency)
    opened = await ctx.baseline_open(ctx.load.e2e_rate)
    return {
        "concurrency": ctx.load.concurrency,
        "closed": closed.as_dict(),
        "rate": ctx.load.e2e_rate,
        "open": opened.as_dict(),
    }


async def run_submit(ctx: RunContext) -> dict[str, Any]:
    """Durable SubmitOrder of resting buys from N clients, interleaved with the echo.

    The echo runs beside the stack and the two are loaded in alternating slices, so
    the ratio compares them on the same machine at the same moments.
    """
    concurrency = ctx.load.concurrency
    account = ctx.account("SUBMIT")
    async with ctx.system("submit", [account]) as system, ctx.echo() as (echo, echo_pid):
        client = OrderClient(system.target.address, system.target.metadata)
        try:
            oms_pid = system.target.server_pid
            sides = [
                ClosedSide("submit", ctx.resting_call(client, account, "s"), oms_pid),
                ClosedSide("echo", ctx.resting_call(echo, ctx.account("ECHO"), "i"), echo_pid),
            ]
            label = f"submit and echo: {concurrency} clients, closed loop, interleaved"
            profile_s = 2 * (ctx.load.duration_s + ctx.load.warmup_s)
            async with profiled(oms_pid, ctx.config.profile_dir, "submit", profile_s) as profiles:
                result, baseline = await ctx.run_closed_sliced(label, sides, concurrency)
        finally:
            await client.close()
    return {
        "concurrency": concurrency,
        "result": result.as_dict(),
        "baseline": baseline.as_dict(),
        "interleaved_slices": interleaved_slices(ctx.load.duration_s),
        "throughput_ratio": ratio(result.throughput, baseline.throughput),
        "server_cpu_cores": result.server_cpu_cores,
        "profile": profiles[0].as_dict() if profiles else None,
    }

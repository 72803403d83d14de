"""`baseline` and `submit`: closed-loop SubmitOrder against the echo and against the OMS."""

from __future__ import annotations

from typing import Any

from clients.bench.orders import OrderClient
from clients.bench.profiling import profiled
from clients.bench.scenarios.context import RunContext
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
    """Durable SubmitOrder of resting buys from N clients, beside the echo's figures."""
    concurrency = ctx.load.concurrency
    baseline = await ctx.baseline_closed(concurrency)
    account = ctx.account("SUBMIT")
    async with ctx.system("submit", [account]) as system:
        client = OrderClient(system.target.address, system.target.metadata)
        try:
            label = f"submit: {concurrency} clients, closed loop"
            profile_s = ctx.load.duration_s + ctx.load.warmup_s
            async with profiled(
                system.target.server_pid, ctx.config.profile_dir, "submit", profile_s
            ) as profiles:
                call = ctx.resting_call(client, account, "s")
                result = await ctx.run_closed(label, call, concurrency, system.target.server_pid)
        finally:
            await client.close()
    return {
        "concurrency": concurrency,
        "result": result.as_dict(),
        "baseline": baseline.as_dict(),
        "throughput_ratio": ratio(result.throughput, baseline.throughput),
        "server_cpu_cores": result.server_cpu_cores,
        "profile": profiles[0].as_dict() if profiles else None,
    }

"""`e2e`: submit-to-final-report latency of split orders at a fixed offered rate."""

from __future__ import annotations

from typing import Any

from clients.bench.profiling import profiled
from clients.bench.scenarios.context import RunContext
from clients.bench.scenarios.taking import TakingDriver
from clients.bench.stats import ratio


async def run_e2e(ctx: RunContext) -> dict[str, Any]:
    """Open loop of taking buys; latency to the final report, beside the echo's at that rate."""
    rate, duration_s = ctx.load.e2e_rate, ctx.load.e2e_duration_s
    baseline = await ctx.baseline_open(rate)
    account = ctx.account("E2E")
    async with ctx.system("e2e", [account]) as system, TakingDriver(ctx, system, account) as driver:
        await driver.warm_up("e2e", rate)
        pid, profile_dir = system.target.server_pid, ctx.config.profile_dir
        async with profiled(pid, profile_dir, "e2e", duration_s) as profiles:
            run = await driver.measure(f"e2e: {rate:g} orders/s, open loop", rate, duration_s)
    result = run.as_dict(rate, duration_s)
    latency, echo = run.tracker.latency.summary(), baseline.latency.summary()
    result.update(
        all_final=run.all_final,
        baseline=baseline.as_dict(),
        p50_ratio=ratio(latency.p50_ms, echo.p50_ms),
        p99_ratio=ratio(latency.p99_ms, echo.p99_ms),
        profile=profiles[0].as_dict() if profiles else None,
    )
    return result

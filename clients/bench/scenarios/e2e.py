"""`e2e`: submit-to-final-report latency of split orders at a fixed offered rate, and at
a light one (issue 25's row: the cost of an order when nothing else shares its work),
each beside the echo at the same rate."""

from __future__ import annotations

from typing import Any

from clients.bench.load import LoopResult
from clients.bench.profiling import profiled
from clients.bench.scenarios.context import RunContext
from clients.bench.scenarios.taking import TakingDriver, TakingRun
from clients.bench.stats import ratio


async def run_e2e(ctx: RunContext) -> dict[str, Any]:
    """Open loop of taking buys; latency to the final report, beside the echo's at that rate."""
    rate, duration_s = ctx.load.e2e_rate, ctx.load.e2e_duration_s
    light_rate = ctx.load.e2e_light_rate
    baseline = await ctx.baseline_open(rate)
    light_baseline = await ctx.baseline_open(light_rate) if light_rate > 0 else None
    account = ctx.account("E2E")
    async with ctx.system("e2e", [account]) as system, TakingDriver(ctx, system, account) as driver:
        await driver.warm_up("e2e", rate)
        light = None
        if light_baseline is not None:
            # The light load first, on the warmed-up stack, as a light load finds it (not
            # in the wake of the main rate's 10,000 orders).
            label = f"e2e: {light_rate:g} orders/s (light load), open loop"
            run = await driver.measure(label, light_rate, duration_s, prefix="l")
            # Figures now: the driver's tracker starts afresh with its next measure.
            light = _at_rate(run, light_baseline, light_rate, duration_s)
        pid, profile_dir = system.target.server_pid, ctx.config.profile_dir
        async with profiled(pid, profile_dir, "e2e", duration_s) as profiles:
            run = await driver.measure(f"e2e: {rate:g} orders/s, open loop", rate, duration_s)
        result = _at_rate(run, baseline, rate, duration_s)
    if light is not None:
        result["light"] = light
    result["profile"] = profiles[0].as_dict() if profiles else None
    return result


def _at_rate(
    run: TakingRun, baseline: LoopResult, rate: float, duration_s: float
) -> dict[str, Any]:
    """One rate's figures with the echo's at that rate and the ratios of their p50 and p99."""
    result = run.as_dict(rate, duration_s)
    latency, echo = run.tracker.latency.summary(), baseline.latency.summary()
    result.update(
        all_final=run.all_final,
        baseline=baseline.as_dict(),
        p50_ratio=ratio(latency.p50_ms, echo.p50_ms),
        p99_ratio=ratio(latency.p99_ms, echo.p99_ms),
    )
    return result

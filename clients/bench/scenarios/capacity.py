"""`capacity`: the highest e2e rate one OMS meets the p99 bound at, beside the peer's.

The orders are e2e's (taking buys split over the three venues of the bench market, each
tracked to its final report), offered at rates found by the short rate search of
clients.bench.scenarios.rate_search: a rate passes when every order is final, none was
refused and p99 submit→final < 100 ms. The same command then measures NautilusTrader's
in-process market orders per second (clients.bench.peer), once the stack has stopped,
and the ratio of the two is the figure.
"""

from __future__ import annotations

from typing import Any

from clients.bench.peer import measure_peer
from clients.bench.scenarios.context import RunContext, System
from clients.bench.scenarios.rate_search import (
    IDLE_S,
    P99_MAX_MS,
    best_step,
    climb,
    idle_cores,
    limited_by_steps,
    measure_step,
)
from clients.bench.scenarios.taking import TakingDriver
from clients.bench.stats import ratio

#: The part name of the OMS process in the CPU figures.
SERVER_PART = "server"


async def run_capacity(ctx: RunContext) -> dict[str, Any]:
    """The rate search against one stack, then the peer's rate; both and their ratio."""
    account = ctx.account("CAP")
    async with (
        ctx.system("capacity", [account]) as system,
        TakingDriver(ctx, system, account) as driver,
    ):
        parts = stack_parts(system)
        async with ctx.progress.phase("capacity: idle CPU", IDLE_S):
            idle = await idle_cores(parts)
        await driver.warm_up("capacity", ctx.load.capacity_start_rate)

        async def step(rate: float, n: int) -> dict[str, Any]:
            name, prefix = f"capacity step {n + 1}", f"k{n}-"
            return await measure_step(ctx, [driver], parts, idle, rate, name, prefix)

        steps = await climb(ctx.load, step)
    async with ctx.progress.phase("capacity: NautilusTrader in-process market orders"):
        peer = await measure_peer(ctx.load.peer_orders)
    best = best_step(steps)
    rate = best["rate_per_s"] if best else None
    ctx.found_capacity_per_s = rate
    peer_rate = peer.get("orders_per_s")
    return {
        "p99_max_ms": P99_MAX_MS,
        "capacity_per_s": rate,
        "limited_by_steps": limited_by_steps(steps),
        "idle_cpu_cores": idle,
        "at_capacity": best,
        "steps": steps,
        "peer": peer,
        "peer_ratio": ratio(rate, peer_rate) if rate and peer_rate else None,
    }


def stack_parts(system: System) -> dict[str, int]:
    """The processes whose CPU is read: the OMS and, for a started stack, its venues."""
    stack = system.stack
    if stack is None:
        pid = system.target.server_pid
        return {SERVER_PART: pid} if pid is not None else {}
    return {SERVER_PART: stack.process.pid, **{h.name: h.pid for h in stack.helpers}}

"""`sustained --shards 1,2`: the highest rate each layout sustains, and its CPU per order.

For each shard count N in the run, a stack of separate processes
(clients.bench.system.started_sharded_stack): a nats-server, one `oms venue`, N
`oms shard` owners and `oms front`. Every layout gets as many accounts as the largest N,
spread evenly over its shards, each with its own open loop and report stream, so the
client's work is the same in each. Each layout's rate is found by the short rate search
of clients.bench.scenarios.rate_search (steps, p99 < 100 ms, every order final), with
the CPU per order of each process: the per-order costs a capacity model is built from.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import grpc

from clients.bench.procs import BenchError
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
from clients.bench.setup import prepare_accounts, wait_for_market
from clients.bench.system import bench_scenario_path, started_sharded_stack
from oms_server.domain.shards import ShardMap


async def run_shards(ctx: RunContext) -> dict[str, Any]:
    """Each layout of ``config.shards`` in turn, from its own fresh stack."""
    accounts = max(ctx.config.shards)
    layouts = {}
    for shards in ctx.config.shards:
        try:
            layouts[str(shards)] = await _layout(ctx, shards, accounts)
        except grpc.aio.AioRpcError as exc:  # one layout's failure keeps the others'
            layouts[str(shards)] = {"error": f"{exc.code().name}: {exc.details()}"}
        except (BenchError, OSError, TimeoutError) as exc:
            layouts[str(shards)] = {"error": f"{type(exc).__name__}: {exc}"}
    return {"p99_max_ms": P99_MAX_MS, "accounts": accounts, "layouts": layouts}


async def _layout(ctx: RunContext, shards: int, account_count: int) -> dict[str, Any]:
    label = f"shards={shards}"
    accounts = spread_accounts(ctx, shards, account_count)
    scenario = ctx.config.scenario_file or bench_scenario_path()
    async with contextlib.AsyncExitStack() as exits:
        async with ctx.progress.phase(f"{label}: start nats, venues, shards, front"):
            stack = await exits.enter_async_context(
                started_sharded_stack(scenario, accounts, shards, ctx.workdir / label)
            )
            target = stack.target
            await prepare_accounts(target.address, target.admin_metadata, accounts)
            ctx.venues_quoted[label] = await wait_for_market(
                target.address, target.metadata, ctx.shape.symbol
            )
        system = System(target, stack)
        drivers = [
            await exits.enter_async_context(TakingDriver(ctx, system, account))
            for account in accounts
        ]
        async with ctx.progress.phase(f"{label}: idle CPU", IDLE_S):
            idle = await idle_cores(stack.parts)
        await asyncio.gather(
            *(d.warm_up(label, ctx.load.capacity_start_rate / len(drivers)) for d in drivers)
        )

        async def step(rate: float, n: int) -> dict[str, Any]:
            name, prefix = f"{label} step {n + 1}", f"c{n}-"
            return await measure_step(ctx, drivers, stack.parts, idle, rate, name, prefix)

        steps = await climb(ctx.load, step)
        async with ctx.progress.phase(f"{label}: stop (SIGTERM)"):
            await exits.aclose()
    ctx.stacks.append({"scenario": label, **stack.as_dict()})
    best = best_step(steps)
    return {
        "shards": shards,
        "accounts": accounts,
        "sustained_rate_per_s": best["rate_per_s"] if best else None,
        "limited_by_steps": limited_by_steps(steps),
        "idle_cpu_cores": idle,
        "at_sustained_rate": best,
        "steps": steps,
    }


def spread_accounts(ctx: RunContext, shards: int, count: int) -> list[str]:
    """``count`` account ids of this run dealt round robin over shards 1..``shards``."""
    shard_map = ShardMap.even(shards)
    found: list[str] = []
    n = 0
    while len(found) < count:
        candidate = ctx.account(f"S{shards}-{n}")
        if shard_map.shard_of(candidate) == len(found) % shards + 1:
            found.append(candidate)
        n += 1
    return found

"""The short rate search `capacity` and `sustained --shards` share.

The offered rate climbs in steps from ``capacity_start_rate`` by ``capacity_growth``: each
runs ``capacity_step_s`` and then waits for every order's final report. A step passes
when every accepted order is final, none was refused and the p99 of submit→final stays
under ``P99_MAX_MS``. A rate that misses on p99 alone gets a second try; the search ends
at a rate that misses twice, or leaves orders unfinished, or after ``capacity_max_steps``;
while no rate has passed yet, such a miss sends the search down by the same factor
instead (a busy machine may miss the first rate). The figure is the highest passing rate.
CPU per order, per process, is read from /proc over each step (load and settle) and
divided by the orders accepted, in all and beyond each part's idle CPU (read for
``IDLE_S`` before the load).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from clients.bench.config import LoadParams
from clients.bench.procstats import cpu_seconds
from clients.bench.scenarios.context import RunContext
from clients.bench.scenarios.taking import TakingDriver, TakingRun
from clients.bench.stats import Latencies

#: A step passes only if the p99 of submit→final stays under this.
P99_MAX_MS = 100.0
#: A rate whose p99 alone missed is tried again once (a shared machine has hiccups);
#: one that leaves orders unfinished, or that the loop gave up on, ends the search.
TRIES_PER_RATE = 2
#: Seconds each part's CPU is read with no load, before the warm-up.
IDLE_S = 2.0
#: The part name of this process (the load generator) in the CPU figures.
CLIENT_PART = "client"

#: ``step(rate, n)``: the n-th step (from 0) at ``rate`` orders/s, as ``step_result`` gives.
Step = Callable[[float, int], Awaitable[dict[str, Any]]]


async def climb(load: LoadParams, step: Step) -> list[dict[str, Any]]:
    """Every step the search ran, in order (see the module's docstring)."""
    steps: list[dict[str, Any]] = []
    rate, tries = load.capacity_start_rate, 0
    for n in range(load.capacity_max_steps):
        result = await step(rate, n)
        steps.append(result)
        tries += 1
        if result["passed"]:
            rate, tries = round(rate * load.capacity_growth), 0
        elif tries == TRIES_PER_RATE or not result["all_final"] or result["aborted"]:
            if any(step["passed"] for step in steps):
                break
            # nothing passed yet (a busy machine): look below the first rate instead
            rate, tries = round(rate / load.capacity_growth), 0
    return steps


def best_step(steps: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The passing step of the highest rate, or None."""
    passed = [s for s in steps if s["passed"]]
    return max(passed, key=lambda s: s["rate_per_s"]) if passed else None


def limited_by_steps(steps: Sequence[Mapping[str, Any]]) -> bool:
    """True when the last step passed: the search stopped at its step limit, not a miss."""
    return bool(steps) and bool(steps[-1]["passed"])


async def measure_step(
    ctx: RunContext,
    drivers: Sequence[TakingDriver],
    parts: Mapping[str, int],
    idle: Mapping[str, float],
    rate: float,
    label: str,
    prefix: str,
) -> dict[str, Any]:
    """One measured step at ``rate`` orders/s in all, shared by the drivers (client order
    ids start with ``prefix``); ``idle`` is each part's CPU cores with no load."""
    pids = {**parts, CLIENT_PART: os.getpid()}
    before = _cpu_now(pids)
    started = time.monotonic()
    runs = await asyncio.gather(
        *(
            d.measure(f"{label}: {rate:g}/s", rate / len(drivers), ctx.load.capacity_step_s, prefix)
            for d in drivers
        )
    )
    wall_s = time.monotonic() - started
    cpu_s = {part: after - before[part] for part, after in _cpu_now(pids).items()}
    return step_result(runs, rate, wall_s, cpu_s, idle)


def step_result(
    runs: Sequence[TakingRun],
    rate: float,
    wall_s: float,
    cpu_s: Mapping[str, float],
    idle: Mapping[str, float],
) -> dict[str, Any]:
    """One step's figures and whether it passed."""
    latency = Latencies()
    for run in runs:
        latency.merge(run.tracker.latency)
    summary = latency.summary()
    accepted = sum(len(run.accepted) for run in runs)
    refused = sum(sum(run.loop.errors.values()) for run in runs)
    aborted = any(run.loop.aborted_after_s is not None for run in runs)
    all_final = all(run.all_final for run in runs) and summary.count == accepted
    per_order = {p: round(s * 1000 / accepted, 3) for p, s in cpu_s.items()} if accepted else {}
    # what the orders cost beyond what each part spends idle (announcements, heartbeats)
    marginal = {
        p: round((s - idle.get(p, 0.0) * wall_s) * 1000 / accepted, 3) for p, s in cpu_s.items()
    }
    return {
        "rate_per_s": rate,
        "accepted": accepted,
        "refused": refused,
        "aborted": aborted,
        "all_final": all_final,
        "latency": summary.as_dict(),
        "passed": all_final and not refused and not aborted and summary.p99_ms < P99_MAX_MS,
        "wall_s": round(wall_s, 2),
        "cpu_cores": {p: round(s / wall_s, 3) for p, s in cpu_s.items()},
        "cpu_ms_per_order": per_order,
        "cpu_ms_per_order_by_kind": by_kind(per_order),
        "marginal_cpu_ms_per_order_by_kind": by_kind(marginal) if accepted else {},
    }


def by_kind(per_part: Mapping[str, float]) -> dict[str, float]:
    """Per-part figures summed by kind: every "shard N" into "shards"."""
    kinds: dict[str, float] = {}
    for part, value in per_part.items():
        kind = "shards" if part.startswith("shard ") else part
        kinds[kind] = round(kinds.get(kind, 0.0) + value, 3)
    return kinds


async def idle_cores(parts: Mapping[str, int]) -> dict[str, float]:
    """Each part's CPU cores over IDLE_S with no load."""
    before = _cpu_now(parts)
    started = time.monotonic()
    await asyncio.sleep(IDLE_S)
    wall_s = time.monotonic() - started
    return {p: round((after - before[p]) / wall_s, 4) for p, after in _cpu_now(parts).items()}


def _cpu_now(pids: Mapping[str, int]) -> dict[str, float]:
    return {part: cpu_seconds(pid) or 0.0 for part, pid in pids.items()}

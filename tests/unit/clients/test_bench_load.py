"""oms-bench's interleaved closed loops: slices add up to one honest figure per side."""

from __future__ import annotations

import asyncio

import pytest

from clients.bench.load import LoopResult, closed_loop, combined
from clients.bench.scenarios.context import _numbered_from, interleaved_slices


def _part(ok: int, elapsed_s: float, server_cores: float | None, latency_ms: int) -> LoopResult:
    part = LoopResult(ok=ok, sent=ok, elapsed_s=elapsed_s, server_cpu_cores=server_cores)
    part.client_cpu_cores = 0.5
    part.server_wakeups_per_s = None if server_cores is None else server_cores * 1000
    for _ in range(ok):
        part.latency.record_ns(latency_ms * 1_000_000)
    return part


def test_slices_combine_into_throughput_latency_and_time_weighted_cpu() -> None:
    total = combined([_part(100, 1.0, 1.0, 2), _part(300, 3.0, 0.6, 4)])

    assert (total.ok, total.sent, total.elapsed_s) == (400, 400, 4.0)
    assert total.throughput == pytest.approx(100.0)
    assert total.latency.count == 400
    assert total.latency.summary().p50_ms == pytest.approx(4.0, rel=0.01)
    # (1.0 core x 1 s + 0.6 core x 3 s) / 4 s
    assert total.server_cpu_cores == pytest.approx(0.7)
    assert total.client_cpu_cores == pytest.approx(0.5)
    # (1,000/s x 1 s + 600/s x 3 s) / 4 s
    assert total.server_wakeups_per_s == pytest.approx(700.0)


def test_cpu_is_unknown_when_any_slice_could_not_measure_it() -> None:
    total = combined([_part(10, 1.0, 1.0, 1), _part(10, 1.0, None, 1)])
    assert total.server_cpu_cores is None
    assert total.server_wakeups_per_s is None


def test_slices_are_about_two_seconds_and_at_most_five() -> None:
    assert [interleaved_slices(s) for s in (0.5, 3.0, 4.0, 10.0, 60.0)] == [1, 2, 2, 5, 5]


@pytest.mark.timeout(10)
async def test_a_later_slice_never_reuses_a_call_number() -> None:
    seen: list[int] = []

    async def call(i: int) -> object:
        seen.append(i)
        await asyncio.sleep(0)
        return None

    first = await closed_loop(call, 3, 0.05)
    await closed_loop(_numbered_from(call, first.sent), 3, 0.05)

    assert len(seen) == len(set(seen))

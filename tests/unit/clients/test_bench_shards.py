"""oms-bench sustained --shards: which steps pass, CPU per order by part, the options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from clients.bench.load import LoopResult
from clients.bench.main import _parser, config_from
from clients.bench.scenarios.context import RunContext
from clients.bench.scenarios.rate_search import by_kind, step_result
from clients.bench.scenarios.shards import spread_accounts
from clients.bench.scenarios.taking import TakingRun
from clients.bench.stats import Latencies
from clients.bench.table import rows_for
from oms_server.domain.shards import ShardMap

NS_PER_MS = 1_000_000


@dataclass
class _Tracker:
    latency: Latencies = field(default_factory=Latencies)


def _run(latencies_ms: list[float], *, final: bool = True, refused: int = 0) -> TakingRun:
    tracker = _Tracker()
    for ms in latencies_ms:
        tracker.latency.record_ns(int(ms * NS_PER_MS))
    loop = LoopResult()
    if refused:
        loop.errors["UNAVAILABLE"] = refused
    accepted = {f"c{i}": f"o{i}" for i in range(len(latencies_ms))}
    return TakingRun(loop, cast(Any, tracker), accepted, all_final=final)


@pytest.mark.parametrize(
    ("runs", "passed"),
    [
        ([_run([5.0] * 99 + [90.0]), _run([5.0] * 100)], True),
        ([_run([5.0] * 90 + [150.0] * 10), _run([5.0] * 100)], False),  # p99 over 100 ms
        ([_run([5.0] * 100, final=False), _run([5.0] * 100)], False),
        ([_run([5.0] * 100, refused=1), _run([5.0] * 100)], False),
    ],
)
def test_a_step_passes_when_all_orders_are_final_none_refused_and_p99_is_under_100_ms(
    runs: list[TakingRun], passed: bool
) -> None:
    assert step_result(runs, 200.0, 2.0, {"front": 0.2}, {})["passed"] is passed


def test_cpu_per_order_in_all_and_beyond_idle_by_kind_of_process() -> None:
    runs = [_run([5.0] * 250), _run([5.0] * 250)]
    cpu_s = {"front": 0.6, "shard 1": 1.0, "shard 2": 0.8}
    idle = {"front": 0.05, "shard 1": 0.1, "shard 2": 0.1}
    step = step_result(runs, 250.0, 2.0, cpu_s, idle)
    assert step["cpu_ms_per_order_by_kind"] == {"front": 1.2, "shards": 3.6}
    assert step["marginal_cpu_ms_per_order_by_kind"] == {"front": 1.0, "shards": 2.8}
    assert step["cpu_cores"] == {"front": 0.3, "shard 1": 0.5, "shard 2": 0.4}


def test_by_kind_sums_the_shards() -> None:
    assert by_kind({"shard 1": 1.25, "shard 2": 1.5, "nats": 0.5}) == {"shards": 2.75, "nats": 0.5}


@dataclass
class _Context:
    def account(self, name: str) -> str:
        return f"BENCH-X-{name}"


@pytest.mark.parametrize(("shards", "count"), [(1, 2), (2, 2), (3, 6)])
def test_accounts_are_dealt_evenly_over_the_shards(shards: int, count: int) -> None:
    accounts = spread_accounts(cast(RunContext, _Context()), shards, count)
    on = [ShardMap.even(shards).shard_of(a) for a in accounts]
    assert len(set(accounts)) == count
    assert on == [i % shards + 1 for i in range(count)]


def test_shards_option_runs_the_capacity_search_only_with_sustained() -> None:
    config = config_from(_parser().parse_args(["sustained", "--shards", "1,2"]))
    assert (config.scenarios, config.shards) == (("shards",), (1, 2))
    assert config_from(_parser().parse_args(["sustained"])).scenarios == ("sustained",)
    for argv in (
        ["e2e", "--shards", "2"],
        ["sustained", "--shards", "0"],
        ["sustained", "--shards", "x"],
    ):
        with pytest.raises(SystemExit):
            config_from(_parser().parse_args(argv))


def test_the_table_shows_each_layouts_rate_costs_and_steps() -> None:
    step = step_result([_run([5.0] * 100)], 100.0, 1.0, {"shard 1": 0.3}, {"shard 1": 0.1})
    layout = {
        "accounts": ["A", "B"],
        "at_sustained_rate": step,
        "sustained_rate_per_s": 100.0,
        "limited_by_steps": False,
        "steps": [step, {**step, "rate_per_s": 140.0, "passed": False}],
    }
    result = {"p99_max_ms": 100.0, "layouts": {"1": layout, "2": {"error": "boom"}}}
    rows = {(row.scenario, row.figure): row for row in rows_for({"shards": result})}
    assert rows[("shards=1", "sustained rate, 2 accounts")].value == "100/s"
    assert rows[("shards=1", "CPU per order (ms)")].value == "shards 3.00"
    assert rows[("shards=1", "the same beyond idle (ms)")].value == "shards 2.00"
    assert rows[("shards=1", "steps")].value.endswith("140/s p99 5 ms MISS")
    assert rows[("shards=2", "run failed")].status == "ERROR"

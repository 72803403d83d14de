"""oms-bench capacity: the rate search, and the rows with and without the peer."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from clients.bench import peer
from clients.bench.config import LoadParams
from clients.bench.main import _parser, config_from
from clients.bench.scenarios.rate_search import best_step, climb, limited_by_steps
from clients.bench.scenarios.sustained import sustained_rate
from clients.bench.table import _light_e2e_rows, rows_for

pytestmark = pytest.mark.timeout(30)


def _stepper(
    passes_below: float, *, unfinished_at: float | None = None, flaky: set[int] | None = None
) -> tuple[list[float], Any]:
    """A step that passes below ``passes_below`` orders/s (and misses the n-th steps in
    ``flaky``), leaving orders unfinished from ``unfinished_at``; and the rates it ran."""
    rates: list[float] = []

    async def step(rate: float, n: int) -> dict[str, Any]:
        rates.append(rate)
        all_final = unfinished_at is None or rate < unfinished_at
        passed = rate < passes_below and all_final and n not in (flaky or set())
        return {"rate_per_s": rate, "passed": passed, "all_final": all_final, "aborted": False}

    return rates, step


async def test_the_search_climbs_until_a_rate_misses_twice_and_keeps_the_best() -> None:
    rates, step = _stepper(400.0)
    steps = await climb(LoadParams(capacity_start_rate=150.0), step)
    assert rates == [150.0, 195, 254, 330, 429, 429]
    best = best_step(steps)
    assert best is not None and best["rate_per_s"] == 330
    assert not limited_by_steps(steps)


async def test_a_rate_that_missed_once_is_tried_again_and_may_pass() -> None:
    rates, step = _stepper(400.0, flaky={1})
    steps = await climb(LoadParams(capacity_start_rate=150.0), step)
    assert rates[:4] == [150.0, 195, 195, 254]
    best = best_step(steps)
    assert best is not None and best["rate_per_s"] == 330


async def test_unfinished_orders_end_the_search_at_once() -> None:
    rates, step = _stepper(1000.0, unfinished_at=250.0)
    steps = await climb(LoadParams(capacity_start_rate=150.0), step)
    assert rates == [150.0, 195, 254]
    best = best_step(steps)
    assert best is not None and best["rate_per_s"] == 195


async def test_a_first_rate_that_misses_sends_the_search_down_until_one_passes() -> None:
    rates, step = _stepper(100.0)
    steps = await climb(LoadParams(capacity_start_rate=150.0), step)
    assert rates == [150.0, 150, 115, 115, 88, 114, 114]
    best = best_step(steps)
    assert best is not None and best["rate_per_s"] == 88


async def test_a_search_stopped_by_its_step_limit_says_more_may_pass() -> None:
    rates, step = _stepper(10_000.0)
    steps = await climb(LoadParams(capacity_start_rate=150.0, capacity_max_steps=3), step)
    assert rates == [150.0, 195, 254]
    assert limited_by_steps(steps)


async def test_without_nautilus_trader_the_peer_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(peer, "PEER_PACKAGE", "nautilus_trader_not_installed_here")
    assert not peer.peer_installed()
    assert await peer.measure_peer(10) == {"installed": False, "hint": "pip install '.[peer]'"}


def _result(peer_figure: dict[str, Any], ratio: float | None) -> dict[str, Any]:
    step = {
        "rate_per_s": 330.0,
        "passed": True,
        "latency": {"p50_ms": 9.0, "p90_ms": 20.0, "p99_ms": 60.0, "p999_ms": 80.0},
        "cpu_ms_per_order": {"server": 1.7, "venues": 0.6, "client": 0.5},
    }
    return {
        "p99_max_ms": 100.0,
        "capacity_per_s": 330.0,
        "limited_by_steps": False,
        "at_capacity": step,
        "steps": [step, {**step, "rate_per_s": 429.0, "passed": False}],
        "peer": peer_figure,
        "peer_ratio": ratio,
    }


def test_the_rows_say_the_peer_is_absent_and_give_no_ratio() -> None:
    rows = rows_for({"capacity": _result(peer.absent(), None)})
    by_figure = {row.figure: row for row in rows}
    assert by_figure["e2e capacity, 3 venues, one OMS"].value == "330/s"
    peer_row = by_figure["NautilusTrader in-process market orders"]
    assert peer_row.value == "peer: not installed; pip install '.[peer]'"
    ratio_row = by_figure["e2e capacity vs NautilusTrader in-process market orders"]
    assert (ratio_row.ratio, ratio_row.status) == ("", "")
    assert by_figure["steps"].value.endswith("429/s p99 60 ms MISS")


def test_the_ratio_row_compares_capacity_with_the_peers_rate() -> None:
    measured = {
        "installed": True,
        "version": "1.221.0",
        "filled": 5000,
        "orders_per_s": 1100.0,
        "cpu_ms_per_order": 0.9,
    }
    rows = rows_for({"capacity": _result(measured, 0.3)})
    (row,) = [r for r in rows if r.figure.startswith("e2e capacity vs")]
    assert (row.value, row.baseline, row.ratio, row.status) == ("330/s", "1,100/s", "0.30x", "MISS")


def test_the_server_cpu_per_order_at_light_load_is_set_beside_that_at_capacity() -> None:
    result = _result(peer.absent(), None)
    light = {**result["steps"][0], "rate_per_s": 100.0, "cpu_ms_per_order": {"server": 3.4}}
    rows = rows_for({"capacity": {**result, "steps": [light, *result["steps"]]}})
    (row,) = [r for r in rows if r.figure.startswith("server CPU per order at 100/s")]
    assert (row.value, row.ratio, row.status) == ("3.400 vs 1.700 ms", "2.00x", "MISS")


def test_capacity_is_a_scenario_of_all_with_its_own_options() -> None:
    config = config_from(_parser().parse_args(["capacity", "--peer-orders", "200"]))
    assert config.scenarios == ("capacity",)
    assert config.load.peer_orders == 200
    assert "capacity" in config_from(_parser().parse_args(["all"])).scenarios


def _light(p50: float, p99: float, echo_p50: float, echo_p99: float) -> dict[str, Any]:
    def pcts(p50_ms: float, p99_ms: float) -> dict[str, float]:
        return {"p50_ms": p50_ms, "p90_ms": p99_ms, "p99_ms": p99_ms, "p999_ms": p99_ms, "count": 1}

    return {
        "rate_per_s": 100.0,
        "latency": pcts(p50, p99),
        "baseline": {"latency": pcts(echo_p50, echo_p99), "errors": {}},
        "p50_ratio": p50 / echo_p50,
        "p99_ratio": p99 / echo_p99,
        "sent": 2000,
        "final": 2000,
        "accepted": 2000,
        "venues_per_order": {"3": 2000},
        "errors": {},
    }


@pytest.mark.parametrize(
    ("light", "ratios", "status"),
    [
        (_light(4.0, 15.0, 2.5, 6.0), "1.60x / 2.50x", "PASS"),
        (_light(7.0, 15.0, 2.5, 6.0), "2.80x / 2.50x", "MISS"),
        (_light(4.0, 19.0, 2.5, 6.0), "1.60x / 3.17x", "MISS"),
    ],
)
def test_e2e_states_its_light_load_beside_the_echo_at_that_rate(
    light: dict[str, Any], ratios: str, status: str
) -> None:
    (row, *_) = _light_e2e_rows(light)
    assert row.figure == "submit→final p50 / p99 at 100/s vs echo at 100/s"
    assert (row.ratio, row.target, row.status) == (ratios, "≤ 2x / ≤ 3x", status)


def _run(load: LoadParams, capacity: float | None) -> Any:
    """What sustained_rate reads of a run: its load and the capacity it found."""
    return SimpleNamespace(load=load, found_capacity_per_s=capacity)


def test_sustained_runs_at_80_percent_of_the_capacity_found_unless_told() -> None:
    assert sustained_rate(_run(LoadParams(), 484.0)) == (387, "80% of the 484/s capacity found")
    assert sustained_rate(_run(LoadParams(), None))[0] == 1000.0
    told = LoadParams(sustained_rate=250.0)
    assert sustained_rate(_run(told, 484.0)) == (250.0, "--sustained-rate")

"""A short oms-bench run through its real entry point, so the benchmark cannot rot.

Every scenario runs with tiny counts against real stacks (nats-server, `oms venue` and
`oms server` subprocesses). Nothing here is timed: the assertions are about the JSON's
shape and about counts that must agree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from clients.bench.main import main
from clients.bench.procs import running_children

#: Tiny phases: a few seconds of load in all, at low rates.
SMOKE_ARGS = [
    "all",
    "--quick",
    "--no-progress",
    "--duration=0.5",
    "--warmup=0.2",
    "--concurrency=4",
    "--rate=40",
    "--e2e-duration=1",
    "--light-rate=20",
    "--sustained-rate=40",
    "--sustained-duration=1",
    "--subscribers=3",
    "--settle-timeout=30",
    # capacity: one step of the rate search, and a peer run of a hundred orders
    "--start-rate=40",
    "--max-steps=1",
    "--step-duration=1",
    "--peer-orders=100",
]
SCENARIO_NAMES = {
    "baseline",
    "submit",
    "stream-submit",
    "fix",
    "e2e",
    "capacity",
    "sustained",
    "fanout",
}

#: Covers the one oms-bench run the module fixture makes (it usually takes 40-50 s; on a
#: shared machine at a load of 4-8 it took 100 s before `fix` joined, which adds 10-20 s).
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("bench")
    out = root / "result.json"
    code = main([*SMOKE_ARGS, f"--out={out}", f"--workdir={root / 'work'}"])
    assert code == 0, f"oms-bench exited {code}"
    return dict(json.loads(Path(out).read_text()))


def test_every_scenario_ran_and_every_stack_stopped_cleanly(report: dict[str, Any]) -> None:
    assert set(report["results"]) == SCENARIO_NAMES
    assert not [name for name, r in report["results"].items() if "error" in r]
    assert report["ok"] is True
    assert [s["exit_code"] for s in report["stacks"]] == [0] * 7
    assert not running_children(), "a child process outlived the run"
    assert {row["scenario"] for row in report["targets"]} == SCENARIO_NAMES


def test_baseline_and_submit_report_throughput_and_percentiles(report: dict[str, Any]) -> None:
    baseline, submit = report["results"]["baseline"], report["results"]["submit"]
    assert baseline["closed"]["ok"] > 0 and not baseline["closed"]["errors"]
    assert baseline["open"]["ok"] == baseline["open"]["sent"] > 0
    run = submit["result"]
    assert run["ok"] > 0 and not run["errors"]
    assert run["latency"]["count"] == run["ok"]
    assert set(run["latency"]) >= {"p50_ms", "p90_ms", "p99_ms", "p999_ms"}
    assert submit["baseline"]["throughput_per_s"] > 0 and submit["throughput_ratio"] > 0


def test_stream_submit_answers_every_order_beside_the_unary_echo(report: dict[str, Any]) -> None:
    streamed = report["results"]["stream-submit"]
    run, echo = streamed["result"], streamed["baseline"]
    assert run["ok"] == run["sent"] > 0 and not run["errors"]
    assert run["latency"]["count"] == run["ok"]
    assert echo["ok"] > 0 and not echo["errors"]
    assert streamed["throughput_ratio"] > 0
    (row,) = [r for r in report["targets"] if r["figure"].startswith("streamed order entry")]
    assert row["ratio"].endswith("x") and row["status"] in {"PASS", "MISS"}


def test_fix_answered_every_new_order_through_the_gateway_and_the_echo(
    report: dict[str, Any],
) -> None:
    fix = report["results"]["fix"]
    for run in (fix["result"], fix["baseline"], fix["unary"], fix["open_fix"], fix["open_grpc"]):
        assert run["ok"] == run["sent"] > 0 and not run["errors"]
        assert run["latency"]["count"] == run["ok"]
    assert fix["exit_codes"] == {"oms fix": 0, "fix echo": 0}
    assert fix["throughput_ratio"] > 0
    rows = {r["figure"].split(",")[0]: r for r in report["targets"] if r["scenario"] == "fix"}
    echo_row = rows["FIX gateway vs bare QuickFIX echo"]
    added_row = rows["FIX gateway adds to the gRPC path at 200 orders/s"]
    assert echo_row["ratio"].endswith("x") and echo_row["status"] in {"PASS", "MISS"}
    assert added_row["value"].endswith(" ms)") and added_row["status"] in {"PASS", "MISS"}


def test_e2e_every_order_reached_a_final_report_after_filling_at_three_venues(
    report: dict[str, Any],
) -> None:
    e2e = report["results"]["e2e"]
    assert e2e["sent"] == e2e["accepted"] == e2e["final"] > 0
    assert e2e["final_states"] == {"ORDER_STATE_FILLED": e2e["sent"]}
    assert e2e["venues_per_order"] == {"3": e2e["sent"]}
    assert e2e["latency"]["count"] == e2e["sent"]
    stages = e2e["latency_stages"]  # the stack runs here: its clock is ours
    assert [stages[s]["count"] for s in ("accepted", "working", "delivered")] == [e2e["sent"]] * 3
    stream = e2e["stream"]
    assert (stream["gaps"], stream["duplicates"], stream["repeated_finals"]) == (0, 0, 0)
    light = e2e["light"]  # issue 25's light-load row, beside the echo at that rate
    assert light["sent"] == light["final"] > 0 and light["rate_per_s"] == 20
    assert light["latency"]["count"] == light["sent"]  # new orders, not the first run's again
    (row,) = [r for r in report["targets"] if r["figure"].endswith("vs echo at 20/s")]
    assert row["ratio"].count("x") == 2 and row["status"] in {"PASS", "MISS"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="CPU is read from Linux's /proc")
def test_e2e_measures_the_servers_cpu_and_wake_ups_beside_the_echos(
    report: dict[str, Any],
) -> None:
    e2e = report["results"]["e2e"]
    for run in (e2e, e2e["baseline"]):
        assert run["server_cpu_cores"] > 0
        assert run["server_wakeups_per_s"] > 0


def test_capacity_ran_a_step_of_its_search_and_measured_or_named_the_peer(
    report: dict[str, Any],
) -> None:
    capacity = report["results"]["capacity"]
    (step,) = capacity["steps"]
    assert step["accepted"] > 0 and step["all_final"] and not step["refused"]
    assert step["cpu_ms_per_order"]["server"] > 0
    peer = capacity["peer"]
    (row,) = [r for r in report["targets"] if r["figure"].startswith("NautilusTrader")]
    if peer["installed"]:  # the `peer` extra: a hundred market orders, each filled
        assert peer["filled"] == peer["orders"] == 100 and peer["orders_per_s"] > 0
    else:
        assert row["value"] == "peer: not installed; pip install '.[peer]'"


def test_sustained_stored_fills_equal_the_fills_made_at_the_venues(
    report: dict[str, Any],
) -> None:
    sustained = report["results"]["sustained"]
    checks = sustained["checks"]
    assert checks["sent"] == checks["accepted"] > 0
    assert checks["all_final"] and checks["nothing_lost"]
    assert checks["stream_trades"] == checks["venue_trades"] == 3 * checks["accepted"]
    assert checks["store_fill_qty"] == checks["stream_fill_qty"] == checks["venue_fill_qty"]
    assert sustained["memory"]["start_bytes"] > 0 and sustained["memory"]["end_bytes"] > 0


def test_fanout_every_subscriber_received_every_report(report: dict[str, Any]) -> None:
    fanout = report["results"]["fanout"]
    assert fanout["subscribers_complete"] == fanout["subscribers"] == 3
    expected = fanout["reports_expected"]
    assert expected > fanout["with"]["ok"]  # the primer and the warm-up report too
    for follower in fanout["followers"]:
        assert follower["received"] == follower["last_sequence"] == expected
        assert (follower["gaps"], follower["duplicates"]) == (0, 0)
    assert fanout["without"]["ok"] > 0 and fanout["with"]["ok"] > 0

"""oms-bench's table: CPU per order beside the echo's CPU per call."""

from __future__ import annotations

from typing import Any

from clients.bench.table import rows_for


def latency(p50: float) -> dict[str, float]:
    return {"p50_ms": p50, "p90_ms": p50, "p99_ms": p50, "p999_ms": p50, "count": 1}


def closed(throughput: float, server_cores: float) -> dict[str, Any]:
    return {
        "throughput_per_s": throughput,
        "latency": latency(1.0),
        "errors": {},
        "server_cpu_cores": server_cores,
        "client_cpu_cores": 0.5,
    }


def test_submit_shows_server_cpu_per_order_beside_the_echo_per_call() -> None:
    result = {
        "concurrency": 50,
        "throughput_ratio": 0.25,
        "result": closed(throughput=800.0, server_cores=0.96),
        "baseline": closed(throughput=3200.0, server_cores=0.96),
    }
    rows = {row.figure: row for row in rows_for({"submit": result})}
    cpu = rows["server CPU per order (ms)"]
    assert (cpu.value, cpu.baseline, cpu.ratio) == ("1.200", "0.300 per call", "4.00x")


def test_no_cpu_figure_without_a_server_pid() -> None:
    run = closed(throughput=800.0, server_cores=0.0) | {"server_cpu_cores": None}
    result = {"concurrency": 50, "throughput_ratio": 0.25, "result": run, "baseline": run}
    figures = [row.figure for row in rows_for({"submit": result})]
    assert "server CPU per order (ms)" not in figures

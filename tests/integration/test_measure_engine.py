"""scripts/measure_engine.py, run as its users run it, so the engine's own meter cannot rot.

Nothing is timed: the run must end (every parent final) and print a figure per order for
the event-loop thread and for the whole process, which includes that thread.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "measure_engine.py"
MEDIAN = re.compile(r"median: event-loop thread ([\d.]+) us/order, process ([\d.]+) us/order")

pytestmark = pytest.mark.timeout(120)


def test_a_short_run_routes_every_order_to_the_end_and_prints_cpu_per_order() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--orders", "300", "--rounds", "2", "--clients", "8"],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=SCRIPT.parents[1],
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert len(re.findall(r"^round \d: 300 orders", done.stdout, re.MULTILINE)) == 2
    found = MEDIAN.search(done.stdout)
    assert found is not None, done.stdout
    loop_us, process_us = float(found[1]), float(found[2])
    assert 0 < loop_us <= process_us

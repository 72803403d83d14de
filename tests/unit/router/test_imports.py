"""The router's pure part imports no I/O libraries and no generated protobuf code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
MODULES = (
    "router",
    "router.book",
    "router.plan",
    "router.strategies",
    "router.circuit_breaker",
    "router.freshness",
    "router.quality",
)
FORBIDDEN = ("grpc", "nats", "sqlalchemy", "google.protobuf", "protos")

PROBE = f"""
import sys
for name in {MODULES!r}:
    __import__(name)
bad = sorted(m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in {FORBIDDEN!r}))
sys.stdout.write(','.join(bad))
"""


def test_router_imports_no_io_or_generated_code() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""

"""Reading a server subprocess from outside: its Prometheus gauges, and its memory and
descriptors from /proc (what the kernel charges the process, C buffers included)."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

SCRAPE_TIMEOUT_S = 5.0


def rss_kb(pid: int) -> int:
    """Resident memory of process ``pid``, in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))


def open_fds(pid: int) -> int:
    """File descriptors process ``pid`` has open."""
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


async def gauge(metrics_addr: str, name: str) -> float:
    """The value of the unlabelled metric ``name`` scraped from ``metrics_addr``."""
    text = await asyncio.to_thread(_scrape, metrics_addr)
    for line in text.splitlines():
        metric, _, value = line.partition(" ")
        if metric == name:
            return float(value)
    raise AssertionError(f"no metric {name} at {metrics_addr}")


def _scrape(metrics_addr: str) -> str:
    url = f"http://{metrics_addr}/metrics"
    with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT_S) as response:
        return str(response.read().decode())

"""Latency histograms cheap enough for the order path: a bisect and two additions.

Each keeps what a Prometheus histogram exposes (counts per bucket, their sum) and is
read at scrape time (``oms_server.observability``). No lock: every observation is made
on the event loop's thread; a scrape from another thread may see one observation
half-added, which the next scrape corrects. Standard library only, so the engine may
hold them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import Final

#: Upper bounds (seconds) of the latency buckets: 50 us to 10 s, about 2.5x apart.
LATENCY_BUCKETS_S: Final = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
NS_PER_S: Final = 1_000_000_000


class Histogram:
    """Observations counted in buckets of upper bounds ``bounds`` (and one past them)."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS_S) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Count ``value`` in the first bucket whose bound is at least ``value``."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def observe_ns(self, elapsed_ns: int) -> None:
        """Count a duration given in nanoseconds (as the engine's clock gives them)."""
        self.observe(elapsed_ns / NS_PER_S)

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> Iterator[tuple[str, int]]:
        """(``le`` label, observations at most that), the last one ``+Inf``: Prometheus's
        bucket form."""
        total = 0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            total += count
            yield repr(bound), total
        yield "+Inf", total + self.counts[-1]

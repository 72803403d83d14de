"""Latency histograms (HDR) and their summaries in milliseconds."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from hdrh.histogram import HdrHistogram

#: Smallest and largest latency the histograms hold, in microseconds.
LOWEST_US = 1
HIGHEST_US = 120_000_000
#: Significant decimal digits the histograms keep.
SIGNIFICANT_DIGITS = 3
NS_PER_US = 1_000
US_PER_MS = 1_000.0
#: The percentiles every summary reports.
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Count, mean, max and percentiles of one histogram, in milliseconds."""

    count: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class Latencies:
    """An HDR histogram fed with nanosecond durations."""

    def __init__(self) -> None:
        self._hist = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)

    def record_ns(self, duration_ns: int) -> None:
        micros = min(max(duration_ns // NS_PER_US, LOWEST_US), HIGHEST_US)
        self._hist.record_value(micros)

    def merge(self, other: Latencies) -> None:
        self._hist.add(other._hist)

    @property
    def count(self) -> int:
        return int(self._hist.get_total_count())

    def summary(self) -> LatencySummary:
        if self.count == 0:
            return LatencySummary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        p50, p90, p99, p999 = (self._ms(self._hist.get_value_at_percentile(p)) for p in PERCENTILES)
        return LatencySummary(
            count=self.count,
            mean_ms=round(self._hist.get_mean_value() / US_PER_MS, 3),
            p50_ms=p50,
            p90_ms=p90,
            p99_ms=p99,
            p999_ms=p999,
            max_ms=self._ms(self._hist.get_max_value()),
        )

    @staticmethod
    def _ms(micros: float) -> float:
        return round(micros / US_PER_MS, 3)


def ratio(value: float, baseline: float) -> float | None:
    """value / baseline, or None when there is no baseline."""
    return round(value / baseline, 3) if baseline else None

"""Latency histograms: each observation in the first bucket whose bound holds it."""

from __future__ import annotations

from oms_server.histograms import Histogram


def test_observations_fall_in_le_buckets_reported_cumulatively() -> None:
    histogram = Histogram((0.001, 0.01, 0.1))
    for seconds in (0.0005, 0.001, 0.002, 0.05, 3.0):
        histogram.observe(seconds)
    assert list(histogram.cumulative()) == [("0.001", 2), ("0.01", 3), ("0.1", 4), ("+Inf", 5)]
    assert histogram.count == 5
    assert histogram.sum == 0.0005 + 0.001 + 0.002 + 0.05 + 3.0


def test_nanoseconds_are_counted_in_seconds() -> None:
    histogram = Histogram((0.001, 0.01))
    histogram.observe_ns(2_000_000)
    assert list(histogram.cumulative()) == [("0.001", 0), ("0.01", 1), ("+Inf", 1)]
    assert histogram.sum == 0.002

"""The circuit breaker, driven by an injected clock."""

from __future__ import annotations

import logging

import pytest

from router.circuit_breaker import (
    DEFAULT_COOL_DOWN_S,
    DEFAULT_FAILURE_THRESHOLD,
    BreakerState,
    CircuitBreaker,
)

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


def opened(at: float = 10.0) -> CircuitBreaker:
    breaker = CircuitBreaker("A")
    for _ in range(DEFAULT_FAILURE_THRESHOLD):
        breaker.record_failure(at)
    assert breaker.state is OPEN
    return breaker


def test_defaults_are_three_failures_and_two_seconds() -> None:
    assert (DEFAULT_FAILURE_THRESHOLD, DEFAULT_COOL_DOWN_S) == (3, 2.0)


def test_opens_after_consecutive_failures_only() -> None:
    breaker = CircuitBreaker("A")

    assert breaker.record_failure(1.0) is CLOSED
    assert breaker.record_failure(1.1) is CLOSED
    assert breaker.record_success(1.2) is CLOSED  # resets the count
    assert breaker.record_failure(1.3) is CLOSED
    assert breaker.record_failure(1.4) is CLOSED
    assert breaker.is_routable(1.4)
    assert breaker.record_failure(1.5) is OPEN
    assert not breaker.is_routable(1.5)


def test_no_probe_before_the_cool_down() -> None:
    breaker = opened(at=10.0)

    assert not breaker.allows_probe(10.0 + DEFAULT_COOL_DOWN_S - 0.001)
    assert breaker.state is OPEN


def test_after_the_cool_down_exactly_one_probe_is_allowed() -> None:
    breaker = opened(at=10.0)

    assert breaker.allows_probe(12.0)
    assert breaker.state is HALF_OPEN
    assert not breaker.allows_probe(12.1)
    assert not breaker.is_routable(12.1)


def test_probe_success_closes() -> None:
    breaker = opened(at=10.0)
    breaker.allows_probe(12.0)

    assert breaker.record_success(12.5) is CLOSED
    assert breaker.is_routable(12.5)
    assert breaker.consecutive_failures == 0


def test_probe_failure_reopens_for_another_cool_down() -> None:
    breaker = opened(at=10.0)
    breaker.allows_probe(12.0)

    assert breaker.record_failure(12.5) is OPEN
    assert not breaker.allows_probe(14.0)
    assert breaker.allows_probe(14.5)


@pytest.mark.parametrize("record", ["record_success", "record_failure"])
def test_reports_while_open_change_nothing(record: str) -> None:
    breaker = opened(at=10.0)

    assert getattr(breaker, record)(11.0) is OPEN
    assert breaker.allows_probe(12.0)  # the cool-down still counts from 10.0


def test_closed_breaker_grants_no_probe() -> None:
    assert not CircuitBreaker("A").allows_probe(100.0)


def test_custom_threshold_and_cool_down() -> None:
    breaker = CircuitBreaker("A", failure_threshold=1, cool_down_s=0.5)

    assert breaker.record_failure(0.0) is OPEN
    assert breaker.allows_probe(0.5)


@pytest.mark.parametrize(("threshold", "cool_down"), [(0, 1.0), (1, -1.0)])
def test_bad_settings_are_refused(threshold: int, cool_down: float) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker("A", failure_threshold=threshold, cool_down_s=cool_down)


# -- the cause, in the log and as the reason a venue is left out -----------------------

NO_ANSWER = "a status request got no answer within 1 s"


def transitions(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    """(level, message) of the breaker's INFO-and-above log records."""
    return [
        (r.levelname, r.getMessage())
        for r in caplog.records
        if r.name == "router.circuit_breaker" and r.levelno >= logging.INFO
    ]


def test_an_outage_logs_one_open_and_one_close_with_their_causes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="router.circuit_breaker")
    breaker = CircuitBreaker("ALPHA")
    for at in (1.0, 1.1, 1.2):
        breaker.record_failure(at, NO_ANSWER)
    for probe_at in (3.5, 6.0, 8.5):  # the probes fail, the breaker stays out: no new line
        assert breaker.allows_probe(probe_at)
        breaker.record_failure(probe_at + 0.1, NO_ANSWER)
    breaker.record_failure(9.0, NO_ANSWER)  # while open: nothing
    assert breaker.allows_probe(11.0)
    breaker.record_success(11.1, "a status request was answered")
    breaker.record_success(11.2, "a status request was answered")  # already closed: nothing

    assert transitions(caplog) == [
        (
            "WARNING",
            f"venue ALPHA: circuit breaker opened: 3 failures in a row, the last: {NO_ANSWER}; "
            "out of routing until a probe is answered",
        ),
        (
            "INFO",
            "venue ALPHA: circuit breaker closed: a status request was answered, "
            "after 9.9 s out of routing",
        ),
    ]


def test_a_failure_run_cut_short_by_a_success_logs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="router.circuit_breaker")
    breaker = CircuitBreaker("ALPHA")
    breaker.record_failure(1.0, NO_ANSWER)
    breaker.record_failure(1.1, NO_ANSWER)
    breaker.record_success(1.2)
    assert transitions(caplog) == []


def test_the_exclusion_reason_names_the_state_and_what_opened_it() -> None:
    breaker = CircuitBreaker("ALPHA")
    assert breaker.exclusion_reason is None
    for at in (1.0, 1.1, 1.2):
        breaker.record_failure(at, NO_ANSWER)
    assert breaker.exclusion_reason == (
        f"circuit breaker open: 3 failures in a row, the last: {NO_ANSWER}"
    )
    breaker.allows_probe(3.2)
    assert breaker.exclusion_reason == (
        f"circuit breaker half-open (probing): 3 failures in a row, the last: {NO_ANSWER}"
    )
    breaker.record_success(3.3)
    assert breaker.exclusion_reason is None


def test_a_threshold_of_one_gives_the_cause_alone() -> None:
    breaker = CircuitBreaker("ALPHA", failure_threshold=1)
    breaker.record_failure(1.0, NO_ANSWER)
    assert breaker.exclusion_reason == f"circuit breaker open: {NO_ANSWER}"

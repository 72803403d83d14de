"""A per-venue circuit breaker: pure state, with the clock passed in as ``now`` (seconds).

CLOSED: the venue is routable; consecutive failures are counted and the breaker opens at
the threshold. OPEN: the venue is out of routing; failures and late successes change
nothing. Once the cool-down has passed, ``allows_probe`` turns it HALF_OPEN and grants
exactly one probe. HALF_OPEN: the probe's success closes the breaker, its failure opens it
again for another cool-down. The caller reports a probe that never answers as a failure
(its own timeout), so the breaker never waits forever.
"""

from __future__ import annotations

from enum import StrEnum

#: Consecutive failures (timeouts, connection drops) that open the breaker.
DEFAULT_FAILURE_THRESHOLD = 3
#: Seconds the breaker stays open before it grants a probe.
DEFAULT_COOL_DOWN_S = 2.0


class BreakerState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


class CircuitBreaker:
    """Takes a failing venue out of routing and brings it back after a successful probe."""

    __slots__ = (
        "_consecutive_failures",
        "_opened_at",
        "_probe_granted",
        "_state",
        "cool_down_s",
        "failure_threshold",
        "venue",
    )

    def __init__(
        self,
        venue: str,
        *,
        failure_threshold: int = DEFAULT_FAILURE_THRESHOLD,
        cool_down_s: float = DEFAULT_COOL_DOWN_S,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if cool_down_s < 0:
            raise ValueError("cool_down_s must not be negative")
        self.venue = venue
        self.failure_threshold = failure_threshold
        self.cool_down_s = cool_down_s
        self._state = BreakerState.CLOSED
        self._consecutive_failures = 0
        self._opened_at = 0.0
        self._probe_granted = False

    @property
    def state(self) -> BreakerState:
        """The current state; time alone never changes it (``allows_probe`` does)."""
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive_failures

    def is_routable(self, now: float) -> bool:
        """True when ordinary orders may go to the venue: only while CLOSED."""
        del now  # part of the clock-injected interface; routability does not depend on it
        return self._state is BreakerState.CLOSED

    def allows_probe(self, now: float) -> bool:
        """True once per cool-down: the caller may send one probe now (turns HALF_OPEN)."""
        if self._state is BreakerState.OPEN and now - self._opened_at >= self.cool_down_s:
            self._state = BreakerState.HALF_OPEN
            self._probe_granted = False
        if self._state is not BreakerState.HALF_OPEN or self._probe_granted:
            return False
        self._probe_granted = True
        return True

    def record_failure(self, now: float) -> BreakerState:
        """A timeout or connection drop; returns the state after it."""
        if self._state is BreakerState.HALF_OPEN:
            self._open(now)
        elif self._state is BreakerState.CLOSED:
            self._consecutive_failures += 1
            if self._consecutive_failures >= self.failure_threshold:
                self._open(now)
        return self._state

    def record_success(self, now: float) -> BreakerState:
        """A timely answer from the venue; returns the state after it."""
        del now  # kept for a uniform clock-injected interface
        if self._state is not BreakerState.OPEN:
            self._state = BreakerState.CLOSED
            self._consecutive_failures = 0
            self._probe_granted = False
        return self._state

    def _open(self, now: float) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = now
        self._probe_granted = False

"""A per-venue circuit breaker: pure state, with the clock passed in as ``now`` (seconds).

CLOSED: the venue is routable; consecutive failures are counted and the breaker opens at
the threshold. OPEN: the venue is out of routing; failures and late successes change
nothing. Once the cool-down has passed, ``allows_probe`` turns it HALF_OPEN and grants
exactly one probe. HALF_OPEN: the probe's success closes the breaker, its failure opens it
again for another cool-down. The caller reports a probe that never answers as a failure
(its own timeout), so the breaker never waits forever.

Failures and successes carry their cause, in words: opening and closing are logged once
each with it (a probe failing again while open is only a debug line), and
``exclusion_reason`` says why the venue is out of routing.
"""

from __future__ import annotations

import logging
from enum import StrEnum

log = logging.getLogger(__name__)

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
        "_open_reason",
        "_opened_at",
        "_out_since",
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
        self._out_since = 0.0
        self._open_reason = ""
        self._probe_granted = False

    @property
    def state(self) -> BreakerState:
        """The current state; time alone never changes it (``allows_probe`` does)."""
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive_failures

    @property
    def exclusion_reason(self) -> str | None:
        """Why the venue is out of routing, in words; None while the breaker is CLOSED."""
        if self._state is BreakerState.CLOSED:
            return None
        state = "open" if self._state is BreakerState.OPEN else "half-open (probing)"
        return f"circuit breaker {state}: {self._open_reason}"

    def is_routable(self, now: float) -> bool:
        """True when ordinary orders may go to the venue: only while CLOSED."""
        del now  # part of the clock-injected interface; routability does not depend on it
        return self._state is BreakerState.CLOSED

    def allows_probe(self, now: float) -> bool:
        """True once per cool-down: the caller may send one probe now (turns HALF_OPEN)."""
        if self._state is BreakerState.OPEN and now - self._opened_at >= self.cool_down_s:
            self._state = BreakerState.HALF_OPEN
            self._probe_granted = False
            log.debug("venue %s: circuit breaker half-open, one probe allowed", self.venue)
        if self._state is not BreakerState.HALF_OPEN or self._probe_granted:
            return False
        self._probe_granted = True
        return True

    def record_failure(self, now: float, cause: str = "a failure") -> BreakerState:
        """A timeout or connection drop (``cause`` says which); returns the state after it."""
        if self._state is BreakerState.HALF_OPEN:
            log.debug("venue %s: the probe failed (%s); circuit breaker open", self.venue, cause)
            self._open(now)
        elif self._state is BreakerState.CLOSED:
            self._consecutive_failures += 1
            if self._consecutive_failures >= self.failure_threshold:
                self._open_reason = _failures(self._consecutive_failures, cause)
                self._out_since = now
                log.warning(
                    "venue %s: circuit breaker opened: %s; out of routing until a probe is "
                    "answered",
                    self.venue,
                    self._open_reason,
                    extra={"venue": self.venue},
                )
                self._open(now)
        return self._state

    def record_success(self, now: float, cause: str = "an answer") -> BreakerState:
        """A timely answer from the venue (``cause`` says which); returns the state after it."""
        if self._state is BreakerState.HALF_OPEN:
            log.info(
                "venue %s: circuit breaker closed: %s, after %.1f s out of routing",
                self.venue,
                cause,
                now - self._out_since,
                extra={"venue": self.venue},
            )
        if self._state is not BreakerState.OPEN:
            self._state = BreakerState.CLOSED
            self._consecutive_failures = 0
            self._probe_granted = False
        return self._state

    def _open(self, now: float) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = now
        self._probe_granted = False


def _failures(count: int, last_cause: str) -> str:
    """What opened a breaker: the run of failures and the last one's cause."""
    return f"{count} failures in a row, the last: {last_cause}" if count > 1 else last_cause

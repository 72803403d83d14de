"""Bounded, fair queueing of client orders in front of the single writer.

Under overload a queue in front of the writer only adds waiting: at capacity every
accepted order waits for all those before it, and one busy account can fill the queue
so that a light one waits behind it. ``FairShare`` watches how long the oldest order
still being worked on has waited. While that is under ``target_delay_s``, or fewer
orders wait than one group commit takes, the writer is keeping up and every order is
let in (a burst is absorbed by the group commit). Otherwise the writer is behind, and an
order is let in only while its account holds less than its share of what is waiting:
the orders waiting split evenly over the accounts waiting, itself counted. A light
account still gets in while a heavy one fills the queue; the heavy one is refused until
the queue drains. A refusal comes at once, RESOURCE_EXHAUSTED, before anything changed,
so a client can back off and send the same order again. Cancels are never held back:
they lower risk.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from oms_server.domain.errors import ResourceExhaustedError
from oms_server.engine.writer import DEFAULT_MAX_BATCH

#: Longest the oldest order being worked on may have waited before the writer counts
#: as behind, seconds.
DEFAULT_TARGET_DELAY_S = 0.25
#: Orders one account may always have waiting, however many accounts are busy.
DEFAULT_MIN_ACCOUNT_SHARE = 8
#: Orders that may always wait, however long the oldest has: one full group commit.
#: Fewer are no queue, whatever one slow order (a store look-up) makes the delay look.
DEFAULT_MIN_WAITING = DEFAULT_MAX_BATCH


@dataclass(frozen=True, slots=True)
class FairShareLimits:
    target_delay_s: float = DEFAULT_TARGET_DELAY_S
    min_account_share: int = DEFAULT_MIN_ACCOUNT_SHARE
    min_waiting: int = DEFAULT_MIN_WAITING


class FairShare:
    """Counts the orders being worked on per account and refuses, while the writer is
    behind, those of accounts past their share."""

    def __init__(
        self,
        limits: FairShareLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits or FairShareLimits()
        self._clock = clock
        self._waiting: Counter[str] = Counter()
        #: When each order being worked on arrived, oldest first (dicts keep order).
        self._arrived: dict[int, float] = {}
        self._tickets = itertools.count()
        self.refused = 0

    @property
    def waiting(self) -> int:
        return len(self._arrived)

    def delay_s(self) -> float:
        """How long the oldest order being worked on has waited (0 when none)."""
        oldest = next(iter(self._arrived.values()), None)
        return 0.0 if oldest is None else self._clock() - oldest

    def share(self, account_id: str) -> int:
        """Orders ``account_id`` may have waiting while the writer is behind."""
        accounts = len(self._waiting) + (account_id not in self._waiting)
        return max(self.limits.min_account_share, len(self._arrived) // accounts)

    @contextlib.contextmanager
    def admit(self, account_id: str) -> Iterator[None]:
        """Hold a place for one order of ``account_id`` while it is worked on."""
        self._check(account_id)
        ticket = next(self._tickets)
        self._arrived[ticket] = self._clock()
        self._waiting[account_id] += 1
        try:
            yield
        finally:
            del self._arrived[ticket]
            self._waiting[account_id] -= 1
            if self._waiting[account_id] <= 0:
                del self._waiting[account_id]

    def _check(self, account_id: str) -> None:
        if len(self._arrived) < self.limits.min_waiting:
            return
        delay_s = self.delay_s()
        if delay_s <= self.limits.target_delay_s:
            return
        mine = self._waiting.get(account_id, 0)
        if mine >= self.share(account_id):
            self.refused += 1
            raise ResourceExhaustedError(
                f"the order engine is behind (orders wait {delay_s * 1000:.0f} ms) and "
                f"account {account_id} has {mine} orders waiting, its share; retry shortly",
                reason="ENGINE_BUSY",
                metadata={"account_id": account_id, "waiting": str(mine)},
            )

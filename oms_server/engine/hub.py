"""Fan-out of committed execution reports to stream subscribers.

Recent reports sit in a bounded per-account buffer; each subscriber has a bounded
queue. A subscriber whose queue fills (it stopped reading) is dropped and told so,
so it never slows the engine or other subscribers; it resumes from its last sequence.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable

from oms_server.domain.reports import ExecutionReport

#: Reports kept in memory per account for fast replay.
DEFAULT_BUFFER_REPORTS = 4096
#: Reports a subscriber may have queued before it is dropped as too slow.
DEFAULT_SUBSCRIBER_QUEUE = 8192


class Subscription:
    """One subscriber's live reports; ``start_after`` is the last sequence published before it.

    Reports wait in a deque and the subscriber is woken once per commit, however many
    reports the commit carried (one wake-up and one stream message, not one per report).
    """

    def __init__(self, hub: ReportHub, account_id: str, start_after: int, maxsize: int) -> None:
        self.account_id = account_id
        self.start_after = start_after
        self.overflowed = False
        self._hub = hub
        self._maxsize = maxsize
        self._reports: deque[ExecutionReport] = deque()
        self._ready = asyncio.Event()

    async def next_batch(self, limit: int) -> list[ExecutionReport] | None:
        """Up to ``limit`` live reports once any is there; None once dropped as too slow."""
        while not self._reports:
            if self.overflowed:
                return None
            self._ready.clear()
            await self._ready.wait()
        reports = self._reports
        if len(reports) <= limit:
            batch = list(reports)
            reports.clear()
            return batch
        return [reports.popleft() for _ in range(limit)]

    def offer(self, reports: list[ExecutionReport]) -> None:
        """Queue a commit's reports of this account; past ``maxsize`` waiting, drop out."""
        if self.overflowed:
            return
        if len(self._reports) + len(reports) > self._maxsize:
            self.overflowed = True
            self._hub.unsubscribe(self)
        else:
            self._reports.extend(reports)
        self._ready.set()

    def close(self) -> None:
        self._hub.unsubscribe(self)


class ReportHub:
    """Publishes committed reports to subscribers and keeps a recent buffer per account."""

    def __init__(
        self,
        buffer_reports: int = DEFAULT_BUFFER_REPORTS,
        subscriber_queue: int = DEFAULT_SUBSCRIBER_QUEUE,
    ) -> None:
        self._buffer_reports = buffer_reports
        self._subscriber_queue = subscriber_queue
        self._recent: dict[str, deque[ExecutionReport]] = {}
        self._last: dict[str, int] = {}
        self._subscribers: dict[str, set[Subscription]] = {}
        self.dropped_slow_subscribers = 0

    def seed(self, last_sequences: dict[str, int]) -> None:
        """Set the last committed sequence per account (at start-up)."""
        self._last.update(last_sequences)

    def last_sequence(self, account_id: str) -> int:
        return self._last.get(account_id, 0)

    def publish(self, reports: Iterable[ExecutionReport]) -> None:
        """Hand committed reports, in sequence order, to the buffers and subscribers."""
        by_account: dict[str, list[ExecutionReport]] = {}
        for report in reports:
            by_account.setdefault(report.account_id, []).append(report)
        for account, committed in by_account.items():
            buffer = self._recent.get(account)
            if buffer is None:
                buffer = self._recent[account] = deque(maxlen=self._buffer_reports)
            buffer.extend(committed)
            self._last[account] = committed[-1].sequence
            for subscription in list(self._subscribers.get(account, ())):
                subscription.offer(committed)
                if subscription.overflowed:
                    self.dropped_slow_subscribers += 1

    def subscribe(self, account_id: str) -> Subscription:
        subscription = Subscription(
            self, account_id, self.last_sequence(account_id), self._subscriber_queue
        )
        self._subscribers.setdefault(account_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.account_id)
        if subscribers is not None:
            subscribers.discard(subscription)

    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    def recent(self, account_id: str, after: int, up_to: int) -> list[ExecutionReport] | None:
        """Buffered reports in (after, up_to], or None when the buffer does not reach back."""
        buffer = self._recent.get(account_id)
        if not buffer or buffer[0].sequence > after + 1:
            return None
        return [r for r in buffer if after < r.sequence <= up_to]

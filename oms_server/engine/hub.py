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
    """One subscriber's live queue; ``start_after`` is the last sequence published before it."""

    def __init__(self, hub: ReportHub, account_id: str, start_after: int, maxsize: int) -> None:
        self.account_id = account_id
        self.start_after = start_after
        self.overflowed = False
        self._hub = hub
        self._queue: asyncio.Queue[ExecutionReport | None] = asyncio.Queue(maxsize)

    async def get(self) -> ExecutionReport | None:
        """The next live report, or None once the subscription was dropped as too slow."""
        if self.overflowed and self._queue.empty():
            return None
        return await self._queue.get()

    def drain(self, limit: int) -> list[ExecutionReport]:
        """Up to ``limit`` reports already queued, without waiting."""
        ready: list[ExecutionReport] = []
        while len(ready) < limit and not self._queue.empty():
            report = self._queue.get_nowait()
            if report is not None:
                ready.append(report)
        return ready

    def offer(self, report: ExecutionReport) -> None:
        if self.overflowed:
            return
        try:
            self._queue.put_nowait(report)
        except asyncio.QueueFull:
            self.overflowed = True
            self._hub.unsubscribe(self)

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
        for report in reports:
            account = report.account_id
            buffer = self._recent.get(account)
            if buffer is None:
                buffer = self._recent[account] = deque(maxlen=self._buffer_reports)
            buffer.append(report)
            self._last[account] = report.sequence
            for subscription in list(self._subscribers.get(account, ())):
                subscription.offer(report)
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

"""Fan-out of committed execution reports to stream subscribers, over one shared log.

Each account's recent reports sit in one bounded log that every subscriber of the
account reads with its own cursor. Publishing a commit appends its reports to the log
once and wakes the account's readers once: the engine's thread does no work per
subscriber per report, and a subscriber costs a cursor, not a queue. A subscriber that
lags further behind the head than it may (or than the log reaches back) is dropped and
told so; it resumes from its last sequence, replaying from the store.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable

from oms_server.domain.reports import ExecutionReport

#: Reports kept in memory per account, for replay and for the live readers.
DEFAULT_BUFFER_REPORTS = 4096
#: Reports a subscriber may lag behind its account's head before it is dropped as too slow.
DEFAULT_SUBSCRIBER_QUEUE = 8192


class _AccountLog:
    """One account's recent reports, its subscribers, and the wake-up of the next commit."""

    def __init__(self, capacity: int) -> None:
        self.reports: deque[ExecutionReport] = deque(maxlen=capacity)
        self.subscribers: set[Subscription] = set()
        self.published = asyncio.Event()
        #: No subscriber's cursor is below this (a lower bound, raised by each scan).
        self.low_water = 0

    def after(self, cursor: int, limit: int) -> list[ExecutionReport] | None:
        """Up to ``limit`` reports after ``cursor``, oldest first; None once the log no
        longer reaches back to ``cursor``. Costs the lag, not the log's length."""
        newer: list[ExecutionReport] = []
        for report in reversed(self.reports):
            if report.sequence <= cursor:
                break
            newer.append(report)
        else:
            if newer and newer[-1].sequence > cursor + 1:
                return None
        newer.reverse()
        return newer[:limit]

    def wake(self) -> None:
        """Wake every reader waiting for the next commit, at once."""
        published, self.published = self.published, asyncio.Event()
        published.set()


class Subscription:
    """One subscriber's cursor in its account's log; ``start_after`` is the last sequence
    published before it subscribed. A wake-up brings every report committed since."""

    def __init__(self, hub: ReportHub, log: _AccountLog, account_id: str, start_after: int) -> None:
        self.account_id = account_id
        self.start_after = start_after
        self.cursor = start_after
        self.overflowed = False
        self._hub = hub
        self._log = log

    async def next_batch(self, limit: int) -> list[ExecutionReport] | None:
        """Up to ``limit`` live reports once any is there; None once dropped as too slow."""
        while not self.overflowed:
            published = self._log.published
            batch = self._log.after(self.cursor, limit)
            if batch is None:
                self._hub.drop(self)
                break
            if batch:
                self.cursor = batch[-1].sequence
                return batch
            await published.wait()
        return None

    def close(self) -> None:
        self._hub.unsubscribe(self)


class ReportHub:
    """Publishes committed reports to subscribers and keeps a recent log per account."""

    def __init__(
        self,
        buffer_reports: int = DEFAULT_BUFFER_REPORTS,
        subscriber_queue: int = DEFAULT_SUBSCRIBER_QUEUE,
    ) -> None:
        self._buffer_reports = buffer_reports
        self._max_lag = subscriber_queue
        self._logs: dict[str, _AccountLog] = {}
        self._last: dict[str, int] = {}
        self.dropped_slow_subscribers = 0

    def seed(self, last_sequences: dict[str, int]) -> None:
        """Set the last committed sequence per account (at start-up)."""
        self._last.update(last_sequences)

    def last_sequence(self, account_id: str) -> int:
        return self._last.get(account_id, 0)

    def publish(self, reports: Iterable[ExecutionReport]) -> None:
        """Append committed reports, in sequence order, to their accounts' logs once, and
        wake each account's readers once."""
        touched: dict[str, _AccountLog] = {}
        for report in reports:
            log = touched.get(report.account_id)
            if log is None:
                log = touched[report.account_id] = self._log(report.account_id)
            log.reports.append(report)
            self._last[report.account_id] = report.sequence
        for account, log in touched.items():
            if log.subscribers:
                self._drop_laggards(log, self._last[account])
                log.wake()

    def subscribe(self, account_id: str) -> Subscription:
        log = self._log(account_id)
        subscription = Subscription(self, log, account_id, self.last_sequence(account_id))
        if not log.subscribers or subscription.cursor < log.low_water:
            log.low_water = subscription.cursor
        log.subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        log = self._logs.get(subscription.account_id)
        if log is not None:
            log.subscribers.discard(subscription)

    def drop(self, subscription: Subscription) -> None:
        """Cut off a subscriber that fell too far behind (its next read says so)."""
        if not subscription.overflowed:
            subscription.overflowed = True
            self.dropped_slow_subscribers += 1
        self.unsubscribe(subscription)

    def subscriber_count(self) -> int:
        return sum(len(log.subscribers) for log in self._logs.values())

    def recent(self, account_id: str, after: int, up_to: int) -> list[ExecutionReport] | None:
        """Buffered reports in (after, up_to], or None when the buffer does not reach back."""
        log = self._logs.get(account_id)
        if log is None or not log.reports or log.reports[0].sequence > after + 1:
            return None
        return [r for r in log.reports if after < r.sequence <= up_to]

    def _log(self, account_id: str) -> _AccountLog:
        log = self._logs.get(account_id)
        if log is None:
            log = self._logs[account_id] = _AccountLog(self._buffer_reports)
        return log

    def _drop_laggards(self, log: _AccountLog, head: int) -> None:
        """Drop the subscribers more than the allowed lag behind ``head``, or behind what
        the log still holds. Cursors only move forward, so the subscribers are scanned
        only when the head has moved a whole allowance past the last scan's lowest one."""
        oldest = log.reports[0].sequence - 1 if log.reports else head
        floor = max(head - self._max_lag, oldest)
        if log.low_water >= floor:
            return
        for subscription in list(log.subscribers):
            if subscription.cursor < floor:
                self.drop(subscription)
        log.low_water = min((s.cursor for s in log.subscribers), default=head)

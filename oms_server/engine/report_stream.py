"""One account's execution reports after a sequence: stored ones, then live ones.

The replay every subscriber uses (the gRPC StreamExecutionReports, the operator page's
event stream): subscribe to the hub first, replay from its recent buffer or the journal
up to the sequence the subscription starts after, then follow the live reports. No gap,
no duplicate.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from oms_server.domain.errors import ResourceExhaustedError
from oms_server.domain.reports import ExecutionReport
from oms_server.engine.hub import ReportHub
from oms_server.engine.ports import OrderHistory
from oms_server.histograms import Histogram

#: Reports read from the store per query while replaying a stream.
REPLAY_PAGE = 1000


async def report_batches(
    hub: ReportHub,
    history: OrderHistory,
    account_id: str,
    after: int,
    max_batch: int,
    *,
    lag: Histogram | None = None,
    clock: Callable[[], int] = time.time_ns,
) -> AsyncIterator[list[ExecutionReport]]:
    """Stored reports after ``after``, then live ones, in runs of at most ``max_batch``.

    No gap, no duplicate. A live run holds whatever is queued when the subscriber
    wakes: it never waits for more. A subscriber that falls too far behind is dropped
    (ResourceExhaustedError SLOW_CONSUMER) and resumes from its last sequence. Each live
    run, once the consumer took it (sent it), counts in ``lag`` the age of its oldest
    report: from its creation (transact time, on ``clock``) to its send.
    """
    subscription = hub.subscribe(account_id)
    try:
        last = after
        while last < subscription.start_after:
            chunk = hub.recent(account_id, last, subscription.start_after)
            if chunk is None:
                chunk = await history.reports_after(
                    account_id, last, limit=REPLAY_PAGE, up_to=subscription.start_after
                )
            for start in range(0, len(chunk), max_batch):
                batch = chunk[start : start + max_batch]
                yield batch
                last = batch[-1].sequence
        while True:
            queued = await subscription.next_batch(max_batch)
            if queued is None:
                raise ResourceExhaustedError(
                    f"subscriber fell behind; resume with from_sequence={last}",
                    reason="SLOW_CONSUMER",
                )
            batch = [r for r in queued if r.sequence > last]
            if batch:
                yield batch
                last = batch[-1].sequence
                if lag is not None:
                    lag.observe_ns(clock() - batch[0].transact_ns)
    finally:
        subscription.close()

"""Fills as the venues made them: read back from the VENUE_EXEC JetStream stream.

Every execution report a venue simulator sends goes into that stream, so it is the
venue-side record to hold the OMS's fills against. A venue publishes its reports one
acknowledged publish at a time and may lag well behind under load (the OMS can learn of
a fill sooner through a status request), so the stream is read only once it has stopped
growing. Reports are deduplicated by exec_id (a venue may send one twice) and kept only
for the child orders of the given parents (child ids are ``<parent order id>.<n>``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

import nats
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from nats.js.client import JetStreamContext

from protos.venue.v1 import venue_pb2 as v
from venues import subjects, wire

#: Longest wait for the whole stream to be read back.
READ_TIMEOUT_S = 120.0
CONNECT_TIMEOUT_S = 5.0
#: The stream counts as complete once no report was added for this long...
QUIET_S = 2.0
#: ...or, at the latest, after this long (the count is then marked incomplete).
QUIET_TIMEOUT_S = 120.0
POLL_S = 0.25


@dataclass(frozen=True, slots=True)
class VenueFills:
    """Trades the venues reported for the given parents: count and total quantity."""

    trades: int
    quantity: Decimal
    reports_read: int
    #: Seconds the venues still added reports after the OMS had reported everything final.
    drained_after_s: float
    #: False when the stream kept growing past QUIET_TIMEOUT_S.
    complete: bool

    def as_dict_prefixed(self) -> dict[str, object]:
        return {
            "venue_trades": self.trades,
            "venue_fill_qty": str(self.quantity),
            "venue_reports_read": self.reports_read,
            "venue_stream_drained_after_s": round(self.drained_after_s, 2),
            "venue_count_complete": self.complete,
        }


async def venue_fills(nats_url: str, parent_order_ids: Collection[str]) -> VenueFills:
    """Read VENUE_EXEC from its start to its current end; count our parents' trades."""
    parents = set(parent_order_ids)
    nc = await nats.connect(nats_url, name="oms-bench", connect_timeout=CONNECT_TIMEOUT_S)
    try:
        js = nc.jetstream()
        drained_after_s, complete = await _wait_quiet(js)
        info = await js.stream_info(subjects.EXEC_STREAM)
        counter = _Counter(parents, info.state.last_seq)
        if info.state.messages:
            subscription = await js.subscribe(
                subjects.EXEC_STREAM_SUBJECTS,
                stream=subjects.EXEC_STREAM,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.ALL,
                cb=counter.on_message,
            )
            try:
                await asyncio.wait_for(counter.done.wait(), READ_TIMEOUT_S)
            finally:
                await subscription.unsubscribe()
        return VenueFills(
            len(counter.exec_ids), counter.quantity, counter.read, drained_after_s, complete
        )
    finally:
        await nc.close()


async def _wait_quiet(js: JetStreamContext) -> tuple[float, bool]:
    """Wait until the stream stops growing: (seconds it kept growing, whether it stopped)."""
    start = last_change = time.monotonic()
    last = (await js.stream_info(subjects.EXEC_STREAM)).state.last_seq
    while time.monotonic() - last_change < QUIET_S:
        if time.monotonic() - start > QUIET_TIMEOUT_S:
            return last_change - start, False
        await asyncio.sleep(POLL_S)
        now = (await js.stream_info(subjects.EXEC_STREAM)).state.last_seq
        if now != last:
            last, last_change = now, time.monotonic()
    return last_change - start, True


class _Counter:
    def __init__(self, parents: set[str], last_sequence: int) -> None:
        self.parents = parents
        self.last_sequence = last_sequence
        self.exec_ids: set[str] = set()
        self.quantity = Decimal(0)
        self.read = 0
        self.done = asyncio.Event()

    async def on_message(self, msg: Msg) -> None:
        self.read += 1
        for report in wire.reports_in_payload(msg.data):
            parent = report.child_order_id.rsplit(".", 1)[0]
            is_trade = report.exec_type == v.EXEC_TYPE_TRADE
            if is_trade and parent in self.parents and report.exec_id not in self.exec_ids:
                self.exec_ids.add(report.exec_id)
                self.quantity += Decimal(report.last_qty)
        if msg.metadata.sequence.stream >= self.last_sequence:
            self.done.set()

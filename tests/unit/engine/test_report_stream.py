"""report_batches: the journal, then the hub's buffer, then live reports; no gap, no duplicate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from oms_server.domain.enums import ExecType, OrderState, Side
from oms_server.domain.errors import ResourceExhaustedError
from oms_server.domain.reports import ExecutionReport
from oms_server.engine.hub import ReportHub
from oms_server.engine.report_stream import report_batches
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(10)


def report(sequence: int, account_id: str = "A") -> ExecutionReport:
    return ExecutionReport(
        account_id=account_id,
        sequence=sequence,
        exec_id=f"e{sequence}",
        order_id="o1",
        client_order_id="c1",
        symbol="AAPL",
        side=Side.BUY,
        exec_type=ExecType.NEW,
        order_state=OrderState.NEW,
        last_qty=Decimal(0),
        last_price=Decimal(0),
        last_venue="",
        cum_qty=Decimal(0),
        leaves_qty=Decimal(1),
        avg_price=Decimal(0),
        text="",
        transact_ns=sequence,
    )


class Journal:
    """The reports_after read of the OrderHistory port, over a list (the rest unused)."""

    def __init__(self, reports: list[ExecutionReport]) -> None:
        self.reports = reports
        self.reads = 0

    async def reports_after(
        self, account_id: str, after: int, *, limit: int, up_to: int | None = None
    ) -> list[ExecutionReport]:
        self.reads += 1
        top = up_to if up_to is not None else 1 << 62
        found = [r for r in self.reports if r.account_id == account_id and after < r.sequence]
        return [r for r in found if r.sequence <= top][:limit]


async def take(batches: AsyncIterator[list[ExecutionReport]], count: int) -> list[int]:
    seen: list[int] = []
    while len(seen) < count:
        seen += [r.sequence for r in await anext(batches)]
    return seen


async def test_replays_the_journal_then_follows_live_reports() -> None:
    stored = [report(n) for n in range(1, 6)]
    hub = ReportHub(buffer_reports=2)
    hub.seed({"A": 5})
    journal = Journal(stored)
    batches = report_batches(hub, journal, "A", 2, max_batch=2)  # type: ignore[arg-type]
    assert await take(batches, 3) == [3, 4, 5]
    assert journal.reads == 1
    hub.publish([report(6), report(7)])
    assert await take(batches, 2) == [6, 7]
    await batches.aclose()
    assert hub.subscriber_count() == 0


async def test_replays_from_the_hub_buffer_when_it_reaches_back() -> None:
    hub = ReportHub()
    hub.publish([report(n) for n in range(1, 4)])
    journal = Journal([])
    batches = report_batches(hub, journal, "A", 1, max_batch=10)  # type: ignore[arg-type]
    assert await take(batches, 2) == [2, 3]
    assert journal.reads == 0
    await batches.aclose()


async def test_a_subscriber_that_falls_behind_is_told_to_resume() -> None:
    hub = ReportHub(subscriber_queue=1)
    batches = report_batches(hub, Journal([]), "A", 0, max_batch=10)  # type: ignore[arg-type]
    waiting = asyncio.ensure_future(anext(batches))
    await eventually(lambda: hub.subscriber_count() == 1, message="the stream subscribed")
    hub.publish([report(1), report(2)])
    with pytest.raises(ResourceExhaustedError, match="from_sequence=0"):
        await waiting

"""ReportHub: one shared log per account, read by every subscriber with its own cursor."""

from __future__ import annotations

import asyncio

import pytest

from oms_server.engine.hub import ReportHub
from tests.unit.engine.test_report_stream import report

pytestmark = pytest.mark.timeout(10)


async def test_every_subscriber_reads_each_report_once_in_order() -> None:
    hub = ReportHub()
    readers = [hub.subscribe("A") for _ in range(50)]
    hub.publish([report(n) for n in range(1, 4)])
    hub.publish([report(4)])
    batches = [await reader.next_batch(10) for reader in readers]
    assert all([r.sequence for r in b or []] == [1, 2, 3, 4] for b in batches)
    # one log: every subscriber is handed the same report objects, none is copied
    assert all(b is not None and b[0] is batches[0][0] for b in batches)  # type: ignore[index]


async def test_a_batch_is_at_most_the_limit_and_the_rest_follows() -> None:
    hub = ReportHub()
    reader = hub.subscribe("A")
    hub.publish([report(n) for n in range(1, 6)])
    batches = [await reader.next_batch(2) for _ in range(3)]
    assert [[r.sequence for r in b or []] for b in batches] == [[1, 2], [3, 4], [5]]


async def test_a_reader_wakes_on_its_accounts_commit_only() -> None:
    hub = ReportHub()
    reader = hub.subscribe("A")
    waiting = asyncio.ensure_future(reader.next_batch(10))
    hub.publish([report(1, account_id="B")])
    await asyncio.sleep(0)
    assert not waiting.done()
    hub.publish([report(1)])
    batch = await asyncio.wait_for(waiting, 5)
    assert batch is not None and [(r.account_id, r.sequence) for r in batch] == [("A", 1)]


async def test_a_reader_the_log_no_longer_reaches_is_dropped_at_publish() -> None:
    hub = ReportHub(buffer_reports=4)
    stalled, keeping_up = hub.subscribe("A"), hub.subscribe("A")
    for n in range(1, 7):
        hub.publish([report(n)])
        batch = await keeping_up.next_batch(10)
        assert batch is not None and batch[-1].sequence == n
    assert hub.dropped_slow_subscribers == 1 and stalled.overflowed
    assert await stalled.next_batch(10) is None
    assert hub.subscriber_count() == 1


async def test_a_reader_past_its_allowed_lag_is_dropped_though_the_log_holds() -> None:
    hub = ReportHub(buffer_reports=100, subscriber_queue=3)
    reader = hub.subscribe("A")
    hub.publish([report(n) for n in range(1, 4)])
    assert not reader.overflowed
    hub.publish([report(4)])
    assert reader.overflowed and await reader.next_batch(10) is None


async def test_a_canceled_reader_does_not_disturb_the_others() -> None:
    hub = ReportHub()
    first, second = hub.subscribe("A"), hub.subscribe("A")
    canceled = asyncio.ensure_future(first.next_batch(10))
    waiting = asyncio.ensure_future(second.next_batch(10))
    await asyncio.sleep(0)
    canceled.cancel()
    hub.publish([report(1)])
    batch = await asyncio.wait_for(waiting, 5)
    assert batch is not None and batch[0].sequence == 1

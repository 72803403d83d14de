"""StreamExecutionReports: replay from any sequence, then live; no gap, no duplicate."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
import pytest

from oms_server.engine.hub import ReportHub
from protos.oms.v1 import order_service_pb2 as pb
from protos.oms.v1 import order_service_pb2_grpc
from tests.support.fixtures import RunningOms, call_metadata
from tests.support.orders import error_reason, limit_buy
from tests.support.waiting import eventually

MD = call_metadata()


async def submit_many(oms: RunningOms, prefix: str, count: int, concurrency: int = 10) -> None:
    """Submit then cancel ``count`` orders (two or three reports each)."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with semaphore:
            reply = await oms.orders.SubmitOrder(limit_buy(f"{prefix}-{i}"), metadata=MD)
            if i % 2:
                await oms.orders.CancelOrder(
                    pb.CancelOrderRequest(order_id=reply.order.order_id), metadata=MD
                )

    await asyncio.gather(*(one(i) for i in range(count)))


async def collect(
    oms: RunningOms, from_sequence: int, until: int, *, max_batch: int = 0
) -> list[int]:
    """Sequences received from ``from_sequence`` until sequence ``until`` arrives."""
    return [
        s for batch in await collect_messages(oms, from_sequence, until, max_batch) for s in batch
    ]


async def collect_messages(
    oms: RunningOms, from_sequence: int, until: int, max_batch: int
) -> list[list[int]]:
    """The sequences of each stream message, checking the message shape ``max_batch`` asks."""
    messages: list[list[int]] = []
    request = pb.StreamExecutionReportsRequest(
        account_id="ACC1", from_sequence=from_sequence, max_batch=max_batch
    )
    call = oms.orders.StreamExecutionReports(request, metadata=MD)
    async for message in call:
        if max_batch > 1:
            assert not message.HasField("report")
            assert 1 <= len(message.reports) <= max_batch
            messages.append([r.sequence for r in message.reports])
        else:
            assert not message.reports
            messages.append([message.report.sequence])
        if messages[-1][-1] >= until:
            call.cancel()
            break
    return messages


async def last_sequence(oms: RunningOms) -> int:
    assert oms.app is not None
    return oms.app.hub.last_sequence("ACC1")


@pytest.mark.parametrize("max_batch", [0, 7])
async def test_a_mid_way_subscriber_sees_every_report_once_in_order_while_writes_go_on(
    oms: RunningOms, max_batch: int
) -> None:
    await submit_many(oms, "before", 40)
    start = await last_sequence(oms) // 2
    writer = asyncio.create_task(submit_many(oms, "during", 60))
    reader = asyncio.create_task(collect(oms, start, until=10**9, max_batch=max_batch))
    await asyncio.wait_for(writer, 60)
    final = await last_sequence(oms)
    await eventually(lambda: final > 0)
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    seen = await asyncio.wait_for(collect(oms, start, until=final, max_batch=max_batch), 30)
    assert seen == list(range(start + 1, final + 1))


async def test_batched_messages_pack_ready_reports_and_keep_the_sequence(
    oms: RunningOms,
) -> None:
    await submit_many(oms, "stored", 30)
    final = await last_sequence(oms)
    messages = await asyncio.wait_for(collect_messages(oms, 0, final, max_batch=16), 30)
    assert [s for batch in messages for s in batch] == list(range(1, final + 1))
    # Replayed reports are all ready: full messages of 16, the rest in the last one.
    assert [len(batch) for batch in messages[:-1]] == [16] * (len(messages) - 1)
    # A huge max_batch is capped by the server, never refused.
    capped = await asyncio.wait_for(collect_messages(oms, 0, final, max_batch=10**9), 30)
    assert [s for batch in capped for s in batch] == list(range(1, final + 1))


async def test_live_reader_started_before_writes_gets_every_report(oms: RunningOms) -> None:
    await submit_many(oms, "a", 5)
    start = await last_sequence(oms)
    reader = asyncio.create_task(collect(oms, 0, until=start + 45))
    await submit_many(oms, "b", 30)
    seen = await asyncio.wait_for(reader, 30)
    assert seen == list(range(1, start + 46))


async def test_reports_survive_a_restart_and_the_stream_resumes(oms: RunningOms) -> None:
    await submit_many(oms, "one", 20)
    before = await last_sequence(oms)
    first_half = await asyncio.wait_for(collect(oms, 0, until=before), 30)
    await oms.restart()
    await submit_many(oms, "two", 20)
    after = await last_sequence(oms)
    second_half = await asyncio.wait_for(collect(oms, first_half[-1], until=after), 30)
    assert first_half + second_half == list(range(1, after + 1))
    # Sequences keep counting from the stored ones after the restart: no reuse.
    assert after > before


async def test_replay_reaches_beyond_the_memory_buffer(oms: RunningOms) -> None:
    oms.hub_factory = lambda: ReportHub(buffer_reports=8)
    await oms.restart()  # a small memory buffer: older reports come from the store
    await submit_many(oms, "x", 30)
    final = await last_sequence(oms)
    seen = await asyncio.wait_for(collect(oms, 3, until=final), 30)
    assert seen == list(range(4, final + 1))


async def test_a_subscriber_that_stops_reading_is_ended_and_others_carry_on(
    oms: RunningOms,
) -> None:
    oms.hub_factory = lambda: ReportHub(subscriber_queue=256)
    await oms.restart()
    # A channel with a tiny flow-control window, so the transport really blocks.
    assert oms.app is not None
    stalled_channel = grpc.aio.insecure_channel(
        oms.app.address,
        options=[("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 1024)],
    )
    stalled = order_service_pb2_grpc.OrderServiceStub(stalled_channel).StreamExecutionReports(
        pb.StreamExecutionReportsRequest(account_id="ACC1"), metadata=MD
    )
    await eventually(lambda: oms.app is not None and oms.app.hub.subscriber_count() == 1)
    healthy = asyncio.create_task(collect(oms, 0, until=10**9))
    await submit_many(oms, "flood", 400, concurrency=5)
    final = await last_sequence(oms)
    await eventually(lambda: oms.app is not None and oms.app.hub.dropped_slow_subscribers >= 1)
    healthy.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await healthy
    with pytest.raises(grpc.aio.AioRpcError) as ended:
        async for _ in stalled:
            pass
    await stalled_channel.close()
    assert ended.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_reason(ended.value) == "SLOW_CONSUMER"
    assert "from_sequence=" in (ended.value.details() or "")
    assert await asyncio.wait_for(collect(oms, 0, until=final), 30) == list(range(1, final + 1))


async def test_streams_refuse_other_accounts(oms: RunningOms) -> None:
    call = oms.orders.StreamExecutionReports(
        pb.StreamExecutionReportsRequest(account_id="ACC2"), metadata=MD
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in call:
            pass
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED

"""Report streams that do not read (issue 26), against `oms server` in a subprocess.

Before: 500 non-reading report streams on one account cut throughput from 548 to 18
orders/s and another account's p50 from 26 to 808 ms, each stream holding its own queue.
Now every stream reads one shared log: a stream whose client stopped reading stops
costing work once its HTTP/2 window is full, is dropped once the log has moved past it,
and its client, reading again, gets what was on its way, then RESOURCE_EXHAUSTED
SLOW_CONSUMER naming the sequence to resume from; resuming from there misses nothing.
Memory is measured where the kernel charges it: the server's RSS from /proc.

Not covered: a client whose application does not read but whose gRPC transport still
takes what is sent is, as far as the server can tell, a reader; it costs a write per
report (60 of them cut the flood here from ~1,100 to ~190 orders/s), bounded only by
the stream caps (64 per principal, 256 per peer host).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from pathlib import Path

import grpc
import pytest

from clients.sdk import OmsClient
from oms_server.engine.hub import DEFAULT_BUFFER_REPORTS
from protos.oms.v1 import order_service_pb2 as pb
from protos.oms.v1 import order_service_pb2_grpc
from tests.support.fixtures import call_metadata, token
from tests.support.load import allow_heavy_trading
from tests.support.orders import error_reason, limit_buy
from tests.support.process import OmsProcess, free_port, moving_market_and_oms_process
from tests.support.server_probe import gauge, rss_kb
from tests.support.waiting import eventually
from venues.nats_runtime import EmbeddedNats

pytestmark = pytest.mark.timeout(90)
log = logging.getLogger(__name__)

#: Scaled from the issue's 500, within one trader's stream cap (64).
STALLED_STREAMS = 60
#: Orders the stalled account sends: enough (one report each) for its log of
#: DEFAULT_BUFFER_REPORTS to move past what the stalled streams were sent.
HEAVY_ORDERS = DEFAULT_BUFFER_REPORTS + 400
#: Orders the stalled account keeps unanswered (fewer than the engine's fair share).
HEAVY_IN_FLIGHT = 48
LIGHT_ORDERS = 40
#: Another account's p50 allowed while the stalled streams are open (808 ms before).
LIGHT_P50_LIMIT_S = 0.25
#: Server RSS growth allowed over the whole attack. The orders themselves take ~16 MB;
#: keeping each stream's missed reports (60 x 4,100 x ~100 bytes) would add 24 MB more.
RSS_GROWTH_LIMIT_KB = 32 * 1024
#: A client that does not read: no BDP probing, and its transport reads ahead 1 KiB only.
NOT_READING = [
    ("grpc.http2.bdp_probe", 0),
    ("grpc.http2.lookahead_bytes", 1024),
    ("grpc.use_local_subchannel_pool", 1),
]
HEAVY, LIGHT = call_metadata(accounts=("ACC1",)), call_metadata(accounts=("ACC2",))
#: A resting buy: far below the market, it is accepted and stays (one report).
RESTING = {"quantity": "1", "limit_price": "100.00"}


async def test_stalled_streams_are_dropped_resumably_and_cost_others_nothing(
    nats_server: EmbeddedNats, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("OMS_METRICS_ADDR", metrics)
    market, oms = await moving_market_and_oms_process(nats_server, tmp_path)
    stalled_channel = None
    try:
        await oms.start()
        await allow_heavy_trading(oms)
        assert oms.process is not None
        stalled_channel = grpc.aio.insecure_channel(f"127.0.0.1:{oms.port}", options=NOT_READING)
        stalled = _open_streams(stalled_channel, STALLED_STREAMS)
        await eventually(
            lambda: _gauge_is(metrics, "oms_stream_subscribers", STALLED_STREAMS),
            message="the stalled streams subscribed",
        )
        rss_before = rss_kb(oms.process.pid)
        started = time.monotonic()
        light, heavy = await asyncio.gather(_light_account(oms), _heavy_account(oms))
        flood_s = time.monotonic() - started
        await eventually(
            lambda: _gauge_is(metrics, "oms_stream_subscribers", 0),
            message="the stalled streams dropped",
        )
        rss_after = rss_kb(oms.process.pid)
        outcomes = await asyncio.gather(*(_read_to_the_end(call) for call in stalled))
        resume_from = outcomes[0][1]
        resumed = await _resume(oms, resume_from, until="after-the-drop")
    finally:
        if stalled_channel is not None:
            await stalled_channel.close()
        await oms.terminate()
        await market.stop()
    log.info(
        "%d stalled streams: light p50 %.0f ms, %d heavy orders at %.0f/s; server RSS"
        " %.1f -> %.1f MB; each stream was sent %d-%d reports before its drop",
        STALLED_STREAMS, statistics.median(light) * 1000, heavy, heavy / flood_s,
        rss_before / 1024, rss_after / 1024,
        min(len(got) for got, _, _ in outcomes), max(len(got) for got, _, _ in outcomes),
    )  # fmt: skip
    assert heavy >= HEAVY_ORDERS
    assert len(light) == LIGHT_ORDERS
    assert statistics.median(light) <= LIGHT_P50_LIMIT_S
    assert rss_after - rss_before <= RSS_GROWTH_LIMIT_KB
    for got, last, error in outcomes:
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error_reason(error) == "SLOW_CONSUMER"
        assert f"from_sequence={last}" in (error.details() or "")
        assert got == list(range(1, last + 1))  # in order, no gap, up to the resume point
        assert last < HEAVY_ORDERS - DEFAULT_BUFFER_REPORTS  # it had fallen behind
    assert resumed[0] == resume_from + 1
    assert resumed == list(range(resumed[0], resumed[-1] + 1))
    assert resumed[-1] >= HEAVY_ORDERS


def _open_streams(channel: grpc.aio.Channel, count: int) -> list[grpc.aio.UnaryStreamCall]:  # type: ignore[type-arg]
    orders = order_service_pb2_grpc.OrderServiceStub(channel)
    request = pb.StreamExecutionReportsRequest(account_id="ACC1")
    return [orders.StreamExecutionReports(request, metadata=HEAVY) for _ in range(count)]


async def _light_account(oms: OmsProcess) -> list[float]:
    """Another account's orders, one at a time: the seconds each took to be accepted."""
    latencies = []
    for n in range(LIGHT_ORDERS):
        started = time.monotonic()
        order = limit_buy(f"light-{n}", account_id="ACC2", **RESTING)  # type: ignore[arg-type]
        await oms.orders.SubmitOrder(order, metadata=LIGHT, timeout=10)
        latencies.append(time.monotonic() - started)
    return latencies


async def _heavy_account(oms: OmsProcess) -> int:
    """The stalled streams' account sends HEAVY_ORDERS on an OrderEntry stream (the fast
    way in), HEAVY_IN_FLIGHT unanswered at most; how many were accepted."""
    requests = [
        pb.OrderEntryRequest(submit=limit_buy(f"heavy-{n}", **RESTING))  # type: ignore[arg-type]
        for n in range(HEAVY_ORDERS)
    ]
    async with OmsClient(f"127.0.0.1:{oms.port}", token(accounts=("ACC1",))) as client:
        acks = client.order_entry(requests, max_in_flight=HEAVY_IN_FLIGHT)
        return sum([ack.order is not None async for ack in acks])


async def _read_to_the_end(
    call: grpc.aio.UnaryStreamCall,  # type: ignore[type-arg]
) -> tuple[list[int], int, grpc.aio.AioRpcError]:
    """Read a stalled stream again: the sequences it was sent, the last, and its error."""
    sequences: list[int] = []
    while True:
        try:
            message = await asyncio.wait_for(call.read(), 10)
        except grpc.aio.AioRpcError as exc:
            return sequences, sequences[-1] if sequences else 0, exc
        assert message is not grpc.aio.EOF, "the stream ended without an error"
        sequences.append(message.report.sequence)


async def _resume(oms: OmsProcess, after: int, *, until: str) -> list[int]:
    """Resume from ``after`` and read until the report of a new order ``until``."""
    call = oms.orders.StreamExecutionReports(
        pb.StreamExecutionReportsRequest(account_id="ACC1", from_sequence=after, max_batch=500),
        metadata=HEAVY,
    )
    await oms.orders.SubmitOrder(limit_buy(until, **RESTING), metadata=HEAVY, timeout=10)  # type: ignore[arg-type]
    sequences: list[int] = []
    try:
        while True:
            message = await asyncio.wait_for(call.read(), 10)
            assert message is not grpc.aio.EOF
            sequences.extend(r.sequence for r in message.reports)
            if any(r.client_order_id == until for r in message.reports):
                return sequences
    finally:
        call.cancel()


async def _gauge_is(metrics: str, name: str, value: float) -> bool:
    return await gauge(metrics, name) == value

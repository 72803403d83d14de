"""`stream-submit`: resting buys over OrderEntry streams, beside the unary echo.

N clients (the submit scenario's concurrency, on a stack set up as for `submit`) each
hold one OrderEntry stream, through the SDK's order entry session, as a FIX session or
an exchange gateway client does, and keep ``--stream-window`` submits in flight on it (4
by default: in runs here 16 made 10% more orders/s than 4 at four times the p50, and 1,
as many as a unary client, about 30% fewer: the server's cost per order falls as more
wait to be committed together). The unary echo at N clients, and unary SubmitOrder at N
clients on the same stack, are loaded in alternating slices with it, so the ratios
compare them at the same moments. The server admits at most 64 streams per principal:
more clients than that are refused (RESOURCE_EXHAUSTED, counted as errors).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from clients.bench.load import ClosedCall
from clients.bench.orders import CHANNEL_OPTIONS, OrderClient, OrderShape
from clients.bench.profiling import profiled
from clients.bench.scenarios.context import ClosedSide, RunContext, interleaved_slices
from clients.bench.stats import ratio
from clients.bench.system import Target
from clients.sdk import OmsClient, OrderEntry
from protos.oms.v1 import order_pb2


async def run_stream_submit(ctx: RunContext) -> dict[str, Any]:
    """Durable submits over N order entry streams, interleaved with the unary echo and
    with unary SubmitOrder on the same stack."""
    concurrency = ctx.load.concurrency
    account = ctx.account("STREAM")
    label = f"stream-submit, unary submit, echo: {concurrency} clients, interleaved"
    async with (
        ctx.system("stream-submit", [account]) as system,
        ctx.echo() as (echo, echo_pid),
        order_entry_streams(system.target, concurrency, ctx.load.stream_window) as streams,
        unary_client(system.target) as unary,
    ):
        oms_pid = system.target.server_pid
        callers = concurrency * ctx.load.stream_window
        sides = [
            ClosedSide(
                "stream-submit", resting_entry(streams, ctx.shape, account), oms_pid, callers
            ),
            ClosedSide("submit", ctx.resting_call(unary, account, "s"), oms_pid),
            ClosedSide("echo", ctx.resting_call(echo, ctx.account("ECHO"), "i"), echo_pid),
        ]
        profile_s = 3 * (ctx.load.duration_s + ctx.load.warmup_s)
        async with profiled(oms_pid, ctx.config.profile_dir, "stream-submit", profile_s) as prof:
            result, submit, baseline = await ctx.run_closed_sliced(label, sides, concurrency)
    return {
        "concurrency": concurrency,
        "window": ctx.load.stream_window,
        "result": result.as_dict(),
        "unary": submit.as_dict(),
        "baseline": baseline.as_dict(),
        "interleaved_slices": interleaved_slices(ctx.load.duration_s),
        "throughput_ratio": ratio(result.throughput, baseline.throughput),
        "unary_ratio": ratio(result.throughput, submit.throughput),
        "server_cpu_cores": result.server_cpu_cores,
        "profile": prof[0].as_dict() if prof else None,
    }


@contextlib.asynccontextmanager
async def order_entry_streams(
    target: Target, count: int, window: int
) -> AsyncIterator[list[OrderEntry]]:
    """``count`` order entry sessions over one channel, each sending at most ``window``
    unanswered; each waits for its answers on exit."""
    async with OmsClient(target.address, target.token, channel_options=CHANNEL_OPTIONS) as oms:
        streams = [oms.open_order_entry(max_in_flight=window) for _ in range(count)]
        try:
            yield streams
        finally:
            for stream in streams:
                await stream.close()


@contextlib.asynccontextmanager
async def unary_client(target: Target) -> AsyncIterator[OrderClient]:
    """The raw client the submit scenario loads the OMS with."""
    client = OrderClient(target.address, target.metadata)
    try:
        yield client
    finally:
        await client.close()


def resting_entry(streams: Sequence[OrderEntry], shape: OrderShape, account: str) -> ClosedCall:
    """``call(i)``: the i-th resting buy (client order id ``t<i>``) on stream i mod N."""

    async def call(i: int) -> order_pb2.Order:
        return await streams[i % len(streams)].send(shape.resting_buy(account, f"t{i}", i))

    return call

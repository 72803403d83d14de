"""Stream resume under chaos: subscribers cut at random points while the server restarts.

Orders keep flowing (submit, and cancel every other one) while five subscribers follow
ACC1's execution reports. Each subscriber's connection is cut again and again at
random points, by seeded randomness: after a random number of reports or a random
time, by closing its iterator (the call is cancelled), by cancelling the task that
reads, or by closing its whole channel; it then resumes from the last sequence it saw.
Midway the server stops and starts again on the same port and store. The memory
buffer is kept small, so resumes replay from the store as well as from memory.

Three subscribers use the SDK's resuming iterator (what users use); two use raw stubs
with their own resume loop and check the server itself: every stream it sends starts
right after the requested sequence and has no gap and no duplicate (the SDK would
hide both). Every subscriber must end with sequences 1..N, each exactly once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from sqlalchemy import func, select

from clients.sdk import OmsClient, OmsError, ReconnectPolicy, RetryPolicy
from oms_server.engine.hub import ReportHub
from oms_server.store import schema
from protos.oms.v1 import order_service_pb2 as pb
from protos.oms.v1 import order_service_pb2_grpc
from tests.support.fixtures import (
    RunningOms,
    call_metadata,
    token,
)
from tests.support.orders import limit_buy
from tests.support.waiting import eventually

log = logging.getLogger(__name__)

MD = call_metadata()
SEED = 20240611
#: Orders submitted (every other one cancelled: two reports each, one for the rest).
ORDERS = 240
WRITERS = 4
#: Restart the server once this many orders are done.
RESTART_AT = ORDERS // 2
SDK_SUBSCRIBERS = 3
RAW_SUBSCRIBERS = 2
#: A cut comes after 1..MAX_REPORTS_PER_CUT reports or 0..MAX_SECONDS_PER_CUT seconds.
MAX_REPORTS_PER_CUT = 40
MAX_SECONDS_PER_CUT = 0.3
#: Reports kept in memory: small, so resumes reach back into the store.
BUFFER_REPORTS = 64
CALL_TIMEOUT_S = 5.0
RETRY_PAUSE_S = 0.02
RESUME_PAUSE_S = 0.01
TEST_TIMEOUT_S = 45.0
FAST_RECONNECT = ReconnectPolicy(initial_backoff_s=0.005, max_backoff_s=0.1, max_attempts=None)
FAST_RETRY = RetryPolicy(max_attempts=4, initial_backoff_s=0.01, max_backoff_s=0.05)
#: Closed channels should come back quickly once the server is back.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 200),
]
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
#: A server that stops cancels the calls still running after its grace period.
WRITER_RETRYABLE = (*RETRYABLE, grpc.StatusCode.CANCELLED)


@pytest.fixture
async def restartable_oms(sqlite_url: str, tmp_path: Path) -> AsyncIterator[RunningOms]:
    running = RunningOms(
        sqlite_url, tmp_path / "state", hub_factory=lambda: ReportHub(BUFFER_REPORTS)
    )
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@dataclass
class Subscriber:
    """What one subscriber saw, and how often it was cut."""

    name: str
    rng: random.Random
    seen: list[int] = field(default_factory=list)
    cuts: dict[str, int] = field(default_factory=dict)
    streams_opened: int = 0
    #: Closes the SDK reported as grpc's CANCELLED or UsageError, not CLOSED (see the last test).
    unclean_closes: int = 0
    #: Streams where the server sent something other than the next sequence.
    violations: list[str] = field(default_factory=list)

    @property
    def last(self) -> int:
        return self.seen[-1] if self.seen else 0

    def cut(self, how: str) -> None:
        self.cuts[how] = self.cuts.get(how, 0) + 1

    def budget(self) -> tuple[int, float]:
        """Reports and seconds this connection gets before it is cut."""
        return (
            self.rng.randint(1, MAX_REPORTS_PER_CUT),
            self.rng.uniform(0.0, MAX_SECONDS_PER_CUT),
        )


# -- the writer -----------------------------------------------------------------------------


@dataclass
class Writer:
    """Submits orders (cancelling every other one) through its own channel, retrying
    under the same client_order_id while the server is away."""

    target: str
    done: int = 0
    retries: int = 0

    async def run(self, count: int) -> None:
        async with grpc.aio.insecure_channel(self.target, options=CHANNEL_OPTIONS) as channel:
            stub = order_service_pb2_grpc.OrderServiceStub(channel)
            queue = list(range(count))

            async def worker() -> None:
                while queue:
                    i = queue.pop()
                    reply = await self._call(stub.SubmitOrder, limit_buy(f"chaos-{i}"))
                    if i % 2:
                        cancel = pb.CancelOrderRequest(order_id=reply.order.order_id)
                        await self._call(stub.CancelOrder, cancel, already_done_ok=True)
                    self.done += 1

            await asyncio.gather(*(worker() for _ in range(WRITERS)))

    async def _call(self, method: object, request: object, *, already_done_ok: bool = False):  # type: ignore[no-untyped-def]
        while True:
            try:
                return await method(request, metadata=MD, timeout=CALL_TIMEOUT_S)  # type: ignore[operator]
            except grpc.aio.AioRpcError as error:
                # A cancel retried after a restart may find its first attempt applied.
                if already_done_ok and error.code() is grpc.StatusCode.FAILED_PRECONDITION:
                    return None
                if error.code() not in WRITER_RETRYABLE:
                    raise
                self.retries += 1
                await asyncio.sleep(RETRY_PAUSE_S)  # backoff before the retry


# -- SDK subscribers ------------------------------------------------------------------------


async def follow_with_sdk(sub: Subscriber, target: str, until: asyncio.Future[int]) -> None:
    """Read with the SDK's resuming iterator; cut it at random and resume from the last seen.

    Cuts: close the iterator after some reports (its call is cancelled), cancel the
    reading task mid-read, or close the client's channel under the reader.
    """
    client = new_client(target)
    try:
        while not caught_up(sub, until):
            reports = client.reports("ACC1", from_sequence=sub.last)
            sub.streams_opened += 1
            how = sub.rng.choice(["close-iterator", "cancel-reader", "close-channel"])
            max_reports, max_seconds = sub.budget()
            if how == "close-iterator":
                max_seconds = MAX_SECONDS_PER_CUT  # cut by count; the time is only a bound
            closer = None
            if how == "close-channel":
                closer = asyncio.create_task(close_after(client, max_seconds))
            try:
                async with asyncio.timeout(None if closer else max_seconds):
                    read = 0
                    async for report in reports:
                        sub.seen.append(report.sequence)
                        read += 1
                        if read >= max_reports or caught_up(sub, until):
                            break
            except TimeoutError:
                pass  # the reading task was cancelled mid-read
            except OmsError as error:
                # We closed the channel under it: the SDK says CLOSED, or (a race, see the
                # last test) lets grpc's own CANCELLED out. Either way we resume.
                assert how == "close-channel" and error.code is grpc.StatusCode.CANCELLED, error
                sub.unclean_closes += error.reason != "CLOSED"
            except grpc.aio.UsageError:
                # Closed while the iterator waited to reconnect (the restart): the SDK lets
                # grpc's "Channel is closed" out. Nothing is lost: we resume from the last.
                assert how == "close-channel"
                sub.unclean_closes += 1
            finally:
                await reports.aclose()  # type: ignore[attr-defined]
                if closer is not None:
                    closer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await closer
            sub.cut(how)
            if how == "close-channel":
                await client.close()
                client = new_client(target)
            await asyncio.sleep(sub.rng.uniform(0, RESUME_PAUSE_S))  # a random point to resume
    finally:
        await client.close()


def new_client(target: str) -> OmsClient:
    return OmsClient(
        target,
        token(),
        retry=FAST_RETRY,
        reconnect=FAST_RECONNECT,
        channel_options=CHANNEL_OPTIONS,
    )


async def close_after(client: OmsClient, seconds: float) -> None:
    await asyncio.sleep(seconds)  # the random moment of the cut
    await client.close()


def caught_up(sub: Subscriber, until: asyncio.Future[int]) -> bool:
    return until.done() and sub.last >= until.result()


# -- raw subscribers: the server's own contract -------------------------------------------


async def follow_raw(sub: Subscriber, target: str, until: asyncio.Future[int]) -> None:
    """Raw stub, own resume loop; every stream must go on from from_sequence, one by one."""
    while not caught_up(sub, until):
        how = sub.rng.choice(["cancel-call", "close-channel"])
        max_reports, max_seconds = sub.budget()
        channel = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
        try:
            stub = order_service_pb2_grpc.OrderServiceStub(channel)
            request = pb.StreamExecutionReportsRequest(account_id="ACC1", from_sequence=sub.last)
            call = stub.StreamExecutionReports(request, metadata=MD)
            sub.streams_opened += 1
            try:
                async with asyncio.timeout(max_seconds):
                    read = 0
                    async for message in call:
                        sequence = message.report.sequence
                        if sequence != sub.last + 1:
                            sub.violations.append(f"asked after {sub.last}, got {sequence}")
                            break
                        sub.seen.append(sequence)
                        read += 1
                        if read >= max_reports or caught_up(sub, until):
                            break
            except TimeoutError:
                pass
            except grpc.aio.AioRpcError as error:
                if error.code() not in (*RETRYABLE, grpc.StatusCode.CANCELLED):
                    raise
                how = "server-went-away"
            if how == "cancel-call":
                call.cancel()
        finally:
            await channel.close()
        sub.cut(how)
        await asyncio.sleep(sub.rng.uniform(0, RESUME_PAUSE_S))  # a random point to resume


async def stored_last_sequence(oms: RunningOms) -> int:
    assert oms.app is not None and oms.app.store is not None
    e = schema.order_events.c
    async with oms.app.store.engine.connect() as conn:
        query = select(func.max(e.sequence)).where(e.account_id == "ACC1")
        return int((await conn.execute(query)).scalar_one() or 0)


# -- the test -------------------------------------------------------------------------------


async def test_cut_subscribers_see_every_report_once_in_order_across_a_restart(
    restartable_oms: RunningOms,
) -> None:
    oms = restartable_oms
    target = oms.target
    rng = random.Random(SEED)
    subscribers = [
        Subscriber(f"sdk-{i}", random.Random(rng.random())) for i in range(SDK_SUBSCRIBERS)
    ] + [Subscriber(f"raw-{i}", random.Random(rng.random())) for i in range(RAW_SUBSCRIBERS)]
    final_sequence: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    readers = [
        asyncio.create_task(
            (follow_with_sdk if sub.name.startswith("sdk") else follow_raw)(
                sub, target, final_sequence
            )
        )
        for sub in subscribers
    ]
    writer = Writer(target)
    try:
        writing = asyncio.create_task(writer.run(ORDERS))
        await eventually(
            lambda: writer.done >= RESTART_AT or writing.done(),
            timeout_s=TEST_TIMEOUT_S,
            message=f"{RESTART_AT} orders done",
        )
        seen_before_restart = sum(len(s.seen) for s in subscribers)
        await asyncio.wait_for(oms.restart(), TEST_TIMEOUT_S)
        assert oms.port == int(target.rsplit(":", 1)[1])
        await asyncio.wait_for(writing, TEST_TIMEOUT_S)
        final = await stored_last_sequence(oms)
        assert oms.app is not None
        await eventually(lambda: oms.app is not None and oms.app.hub.last_sequence("ACC1") == final)
        final_sequence.set_result(final)
        await asyncio.wait_for(asyncio.gather(*readers), TEST_TIMEOUT_S)
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)

    expected = list(range(1, final + 1))
    assert final >= ORDERS + ORDERS // 2  # NEW for each order, CANCELED for half of them
    assert seen_before_restart > 0
    for sub in subscribers:
        assert sub.violations == [], f"{sub.name}: the server broke the sequence"
        assert sub.seen == expected, f"{sub.name} missed or repeated reports"
        assert sum(sub.cuts.values()) >= 5, f"{sub.name} was hardly cut: {sub.cuts}"
    log.info(
        "stream chaos: %d orders, %d reports, 1 server restart, %d writer retries; %s; "
        "lost 0, duplicated 0",
        ORDERS,
        final,
        writer.retries,
        "; ".join(
            f"{s.name}: {s.streams_opened} streams, cuts {s.cuts}, unclean closes "
            f"{s.unclean_closes}"
            for s in subscribers
        ),
    )


# -- closing a client whose iterator is waiting to reconnect ---------------------------------


class GoneStream(order_service_pb2_grpc.OrderServiceServicer):
    """Every stream fails at once with UNAVAILABLE, as a server on its way down would."""

    def __init__(self) -> None:
        self.opened = 0

    async def StreamExecutionReports(self, request, context):  # type: ignore[no-untyped-def]
        self.opened += 1
        await context.abort(grpc.StatusCode.UNAVAILABLE, "going away")
        yield pb.StreamExecutionReportsResponse()  # pragma: no cover


async def test_closing_the_client_while_its_stream_waits_to_reconnect_ends_it_cleanly() -> None:
    """The chaos above found it: close() during the reconnect backoff must end the iterator
    with OmsError CLOSED (as close() during a read does), not grpc's UsageError."""
    server = grpc.aio.server()
    servicer = GoneStream()
    order_service_pb2_grpc.add_OrderServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    slow = ReconnectPolicy(initial_backoff_s=0.5, max_backoff_s=0.5, max_attempts=None)
    client = OmsClient(f"127.0.0.1:{port}", token(), reconnect=slow)
    try:
        reports = client.reports("ACC1")
        reader = asyncio.create_task(anext(reports))  # type: ignore[arg-type]
        await eventually(lambda: servicer.opened >= 1, message="the stream was tried")
        await client.close()  # the iterator is now in its 0.25..0.5 s backoff
        with pytest.raises(OmsError) as closed:
            await asyncio.wait_for(reader, CALL_TIMEOUT_S)
        assert closed.value.reason == "CLOSED"
    finally:
        await client.close()
        await server.stop(0)

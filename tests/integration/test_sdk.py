"""The SDK over real gRPC: against the real OMS, and against scripted servers that fail."""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from clients.sdk import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OmsClient,
    OmsError,
    PermissionDenied,
    ReconnectPolicy,
    RetryPolicy,
    SyncOmsClient,
    TlsOptions,
    Unauthenticated,
    Unavailable,
)
from oms_server.engine.hub import ReportHub
from protos.oms.v1 import common_pb2, order_pb2, order_service_pb2_grpc
from protos.oms.v1 import order_service_pb2 as pb
from tests.support.fixtures import (
    RunningOms,
    token,
)
from tests.support.waiting import eventually

FAST_RETRY = RetryPolicy(max_attempts=4, initial_backoff_s=0.01, max_backoff_s=0.05)
FAST_RECONNECT = ReconnectPolicy(initial_backoff_s=0.002, max_backoff_s=0.05, max_attempts=100)
WAIT_S = 30.0


def client_for(target: str, **options: object) -> OmsClient:
    options = {"retry": FAST_RETRY, "reconnect": FAST_RECONNECT, **options}
    return OmsClient(target, str(options.pop("token", token())), **options)  # type: ignore[arg-type]


@pytest.fixture
async def client(oms_sqlite: RunningOms) -> AsyncIterator[OmsClient]:
    assert oms_sqlite.app is not None
    async with client_for(oms_sqlite.app.address) as oms_client:
        yield oms_client


async def buy(client: OmsClient, client_order_id: str | None = None, **fields: object) -> object:
    request: dict[str, object] = {
        "account_id": "ACC1",
        "symbol": "AAPL",
        "side": "buy",
        "quantity": "100",
        "limit_price": "190.00",
        "client_order_id": client_order_id,
    }
    return await client.submit_order(**{**request, **fields})  # type: ignore[arg-type]


async def take(reports: AsyncIterator[order_pb2.ExecutionReport], count: int) -> list[int]:
    """The sequences of the next ``count`` reports."""
    seen: list[int] = []
    async for report in reports:
        seen.append(report.sequence)
        if len(seen) == count:
            break
    return seen


# -- against the real OMS ------------------------------------------------------------------


async def test_submit_get_list_cancel_through_the_sdk(client: OmsClient) -> None:
    order = await buy(client, "sdk-1")
    assert isinstance(order, order_pb2.Order)
    assert (order.client_order_id, order.state) == ("sdk-1", common_pb2.ORDER_STATE_NEW)
    assert order.order_type == common_pb2.ORDER_TYPE_LIMIT
    assert await client.get_order(order.order_id) == order
    page = await client.list_orders("ACC1", states=["new"])
    assert [o.order_id for o in page.orders] == [order.order_id]
    canceled = await client.cancel_order(order.order_id)
    assert canceled.state == common_pb2.ORDER_STATE_CANCELED
    events = await client.get_order_events(order.order_id)
    assert events[0].exec_type == common_pb2.EXEC_TYPE_NEW
    assert events[-1].exec_type == common_pb2.EXEC_TYPE_CANCELED


async def test_mass_cancel_through_the_sdk(client: OmsClient) -> None:
    buys = [await buy(client, f"mc-{i}") for i in range(3)]
    msft = await buy(client, "mc-msft", symbol="MSFT", limit_price="420")
    assert await client.cancel_all_orders("ACC1", symbol="AAPL", side="sell") == 0
    assert await client.cancel_all_orders("ACC1", symbol="AAPL", side="buy") == 3
    states = {o.order_id: (await client.get_order(o.order_id)).state for o in [*buys, msft]}
    assert states == {
        **{o.order_id: common_pb2.ORDER_STATE_CANCELED for o in buys},
        msft.order_id: common_pb2.ORDER_STATE_NEW,
    }
    assert await client.cancel_all_orders("ACC1") == 1
    with pytest.raises(PermissionDenied):
        await client.cancel_all_orders("ACC2")


async def test_replace_with_a_client_order_id_is_idempotent(client: OmsClient) -> None:
    order = await buy(client, "r-1")
    first = await client.replace_order(order.order_id, quantity=150, client_order_id="r-2")
    again = await client.replace_order(order.order_id, quantity=150, client_order_id="r-2")
    assert (first.quantity, first.client_order_id) == ("150", "r-2")
    assert again.order_id == first.order_id


async def test_iter_orders_walks_every_page(client: OmsClient) -> None:
    ids = [(await buy(client, f"page-{i}")).order_id for i in range(7)]
    first = await client.list_orders("ACC1", page_size=3)
    assert len(first.orders) == 3 and first.next_page_token
    walked = [o.order_id async for o in client.iter_orders("ACC1", page_size=3)]
    assert walked == list(reversed(ids))


async def test_submit_without_client_order_id_generates_one(client: OmsClient) -> None:
    first, second = await buy(client), await buy(client)
    assert first.client_order_id and second.client_order_id
    assert first.client_order_id != second.client_order_id


async def test_the_same_client_order_id_gives_the_same_order(client: OmsClient) -> None:
    first = await buy(client, "dup-1")
    second = await buy(client, "dup-1")
    assert second.order_id == first.order_id
    assert len((await client.list_orders("ACC1")).orders) == 1


async def test_invalid_fields_raise_invalid_argument_with_field_violations(
    client: OmsClient,
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await buy(client, "bad-qty", quantity="0")
    error = refused.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "INVALID_FIELD"
    assert [field for field, _ in error.field_violations] == ["quantity"]
    assert str(error).startswith("oms-client: INVALID_ARGUMENT INVALID_FIELD: quantity")


async def test_refusals_raise_their_typed_error_with_the_reason(client: OmsClient) -> None:
    with pytest.raises(NotFound) as missing:
        await client.get_order("no-such-order")
    assert missing.value.reason == "ORDER_NOT_FOUND"
    order = await buy(client, "done-1")
    await client.cancel_order(order.order_id)
    with pytest.raises(FailedPrecondition) as done:
        await client.cancel_order(order.order_id)
    assert done.value.reason == "ORDER_NOT_WORKING"
    with pytest.raises(PermissionDenied) as denied:
        await client.list_orders("ACC2")
    assert denied.value.reason == "ACCOUNT_NOT_PERMITTED"
    assert all(isinstance(e.value, OmsError) for e in (missing, done, denied))


async def test_a_bad_token_raises_unauthenticated(oms_sqlite: RunningOms) -> None:
    assert oms_sqlite.app is not None
    async with client_for(oms_sqlite.app.address, token="not-a-jwt") as bad:
        with pytest.raises(Unauthenticated):
            await bad.get_order("x")


async def test_floats_are_refused_before_anything_is_sent(client: OmsClient) -> None:
    with pytest.raises(TypeError, match="quantity"):
        await buy(client, "float-1", quantity=1.5)


async def test_an_unreachable_server_raises_unavailable_after_bounded_retries() -> None:
    async with client_for("127.0.0.1:1") as nowhere:
        with pytest.raises(Unavailable):
            await asyncio.wait_for(nowhere.get_order("x"), WAIT_S)


async def test_the_sync_client_submits_and_follows_reports(oms_sqlite: RunningOms) -> None:
    assert oms_sqlite.app is not None
    address = oms_sqlite.app.address

    def session() -> tuple[str, list[int]]:
        with SyncOmsClient(address, token(), retry=FAST_RETRY) as sync:
            order = sync.submit_order(
                account_id="ACC1", symbol="AAPL", side="buy", quantity="5", limit_price="190"
            )
            assert sync.get_order(order.order_id).order_id == order.order_id
            sync.cancel_order(order.order_id)
            sequences = []
            for report in sync.reports("ACC1"):
                sequences.append(report.sequence)
                if len(sequences) == 3:
                    break
            return order.order_id, sequences

    order_id, sequences = await asyncio.wait_for(asyncio.to_thread(session), WAIT_S)
    assert order_id and sequences == [1, 2, 3]


# -- resuming the report stream against the real OMS ----------------------------------------


async def submit_many(client: OmsClient, prefix: str, count: int) -> None:
    await asyncio.gather(*(buy(client, f"{prefix}-{i}") for i in range(count)))


async def test_reports_resume_across_a_server_restart(oms_sqlite: RunningOms) -> None:
    assert oms_sqlite.app is not None
    async with client_for(oms_sqlite.app.address) as client:
        reports = client.reports("ACC1")
        await submit_many(client, "before", 10)
        first = await asyncio.wait_for(take(reports, 10), WAIT_S)
        await oms_sqlite.restart()
        await submit_many(client, "after", 10)
        second = await asyncio.wait_for(take(reports, 10), WAIT_S)
        await reports.aclose()  # type: ignore[attr-defined]
    assert first + second == list(range(1, 21))


async def test_a_slow_consumer_dropped_by_the_server_resumes_without_loss(
    oms_sqlite: RunningOms,
) -> None:
    oms_sqlite.hub_factory = lambda: ReportHub(subscriber_queue=64)
    await oms_sqlite.restart()
    app = oms_sqlite.app
    assert app is not None
    # A tiny flow-control window, so a reader that pauses really stalls the transport.
    stalling = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 1024)]
    async with client_for(app.address, channel_options=stalling) as client:
        reports = client.reports("ACC1")
        await buy(client, "first")
        assert await asyncio.wait_for(take(reports, 1), WAIT_S) == [1]
        for batch in range(6):
            await submit_many(client, f"flood-{batch}", 50)
        await eventually(lambda: app.hub.dropped_slow_subscribers >= 1)
        rest = await asyncio.wait_for(take(reports, 300), WAIT_S)
        await reports.aclose()  # type: ignore[attr-defined]
    assert rest == list(range(2, 302))


# -- scripted servers that fail ------------------------------------------------------------


@contextlib.asynccontextmanager
async def serving(
    servicer: order_service_pb2_grpc.OrderServiceServicer,
    credentials: grpc.ServerCredentials | None = None,
) -> AsyncIterator[str]:
    """A plain grpc.aio server on loopback with ``servicer``; yields its address."""
    server = grpc.aio.server()
    order_service_pb2_grpc.add_OrderServiceServicer_to_server(servicer, server)
    if credentials is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


def an_order(request: pb.SubmitOrderRequest) -> order_pb2.Order:
    return order_pb2.Order(
        order_id="O-1",
        client_order_id=request.client_order_id,
        account_id=request.account_id,
        state=common_pb2.ORDER_STATE_NEW,
    )


class FlakyCommands(order_service_pb2_grpc.OrderServiceServicer):
    """Fails the first ``failures`` calls of each RPC with ``code``; GetOrder never answers."""

    def __init__(self, failures: int, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> None:
        self.failures = failures
        self.code = code
        self.calls: dict[str, list[object]] = {}

    async def _maybe_fail(self, name: str, request: object, context: object) -> None:
        calls = self.calls.setdefault(name, [])
        calls.append(request)
        if len(calls) <= self.failures:
            await context.abort(self.code, f"scripted failure {len(calls)}")  # type: ignore[attr-defined]

    async def SubmitOrder(self, request, context):  # type: ignore[no-untyped-def]
        await self._maybe_fail("SubmitOrder", request, context)
        return pb.SubmitOrderResponse(order=an_order(request))

    async def CancelOrder(self, request, context):  # type: ignore[no-untyped-def]
        await self._maybe_fail("CancelOrder", request, context)
        return pb.CancelOrderResponse(order=order_pb2.Order(order_id=request.order_id))

    async def ReplaceOrder(self, request, context):  # type: ignore[no-untyped-def]
        await self._maybe_fail("ReplaceOrder", request, context)
        return pb.ReplaceOrderResponse(order=order_pb2.Order(order_id="O-2"))

    async def GetOrder(self, request, context):  # type: ignore[no-untyped-def]
        self.calls.setdefault("GetOrder", []).append(request)
        await asyncio.Event().wait()


async def test_submit_is_retried_under_one_generated_client_order_id() -> None:
    fake = FlakyCommands(failures=2)
    async with serving(fake) as address, client_for(address) as client:
        order = await buy(client)
    sent = [r.client_order_id for r in fake.calls["SubmitOrder"]]  # type: ignore[attr-defined]
    assert len(sent) == 3 and len(set(sent)) == 1 and sent[0]
    assert order.client_order_id == sent[0]


async def test_submit_gives_up_after_the_bounded_attempts() -> None:
    fake = FlakyCommands(failures=100)
    async with serving(fake) as address, client_for(address) as client:
        with pytest.raises(Unavailable, match="scripted failure 4"):
            await buy(client, "gives-up")
    assert len(fake.calls["SubmitOrder"]) == FAST_RETRY.max_attempts


async def test_a_submit_the_server_shed_with_cancelled_is_sent_again() -> None:
    """grpc core ends calls it sheds unread (its queue of calls the server has not
    taken yet is full) with CANCELLED: nothing was done, so a keyed submit goes again."""
    fake = FlakyCommands(failures=2, code=grpc.StatusCode.CANCELLED)
    async with serving(fake) as address, client_for(address) as client:
        order = await buy(client, "shed")
        with pytest.raises(OmsError) as cancel:
            await client.cancel_order("O-1")  # sent once, as every cancel
    assert len(fake.calls["SubmitOrder"]) == 3 and order.client_order_id == "shed"
    assert cancel.value.code is grpc.StatusCode.CANCELLED
    assert len(fake.calls["CancelOrder"]) == 1


async def test_refusals_are_never_retried() -> None:
    fake = FlakyCommands(failures=1, code=grpc.StatusCode.INVALID_ARGUMENT)
    async with serving(fake) as address, client_for(address) as client:
        with pytest.raises(InvalidArgument):
            await buy(client, "refused")
    assert len(fake.calls["SubmitOrder"]) == 1


async def test_cancel_is_sent_once_and_replace_retried_only_with_a_client_order_id() -> None:
    fake = FlakyCommands(failures=1)
    async with serving(fake) as address, client_for(address) as client:
        with pytest.raises(Unavailable):
            await client.cancel_order("O-1")
        with pytest.raises(Unavailable):
            await client.replace_order("O-1", quantity="5")
        replaced = await client.replace_order("O-1", quantity="5", client_order_id="new-1")
    assert len(fake.calls["CancelOrder"]) == 1
    assert len(fake.calls["ReplaceOrder"]) == 2
    assert replaced.order_id == "O-2"


async def test_every_call_has_a_deadline() -> None:
    fake = FlakyCommands(failures=0)
    retry = RetryPolicy(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.01)
    async with serving(fake) as address, client_for(address, retry=retry) as client:
        with pytest.raises(DeadlineExceeded):
            await asyncio.wait_for(client.get_order("O-1", timeout_s=0.2), WAIT_S)
    assert len(fake.calls["GetOrder"]) == 2


class CuttingStream(order_service_pb2_grpc.OrderServiceServicer):
    """Reports 1..N, appended over time; every stream is cut at a random point with a
    resumable error, and some reopened streams first repeat reports already sent."""

    #: CANCELLED from the server: what a server stopping with streams open sends them.
    CUT_CODES = (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
    )

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.last = 0
        self.opened = 0
        self.grew = asyncio.Condition()

    async def append(self, count: int) -> None:
        async with self.grew:
            self.last += count
            self.grew.notify_all()

    async def StreamExecutionReports(self, request, context):  # type: ignore[no-untyped-def]
        self.opened += 1
        sequence = max(0, request.from_sequence - self.rng.choice([0, 0, 0, 2, 5]))
        cut_after = self.rng.randint(0, 12)
        for _ in range(cut_after):
            async with self.grew:
                await self.grew.wait_for(lambda: self.last > sequence)  # noqa: B023
            sequence += 1
            report = order_pb2.ExecutionReport(sequence=sequence, account_id=request.account_id)
            yield pb.StreamExecutionReportsResponse(report=report)
        await context.abort(self.rng.choice(self.CUT_CODES), "scripted cut")


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_a_stream_cut_at_random_points_yields_every_report_once_in_order(
    seed: int,
) -> None:
    total = 400
    fake = CuttingStream(seed)

    async def produce() -> None:
        for _ in range(total // 10):
            await fake.append(10)
            await asyncio.sleep(0)

    async with serving(fake) as address, client_for(address) as client:
        reports = client.reports("ACC1")
        producer = asyncio.create_task(produce())
        seen = await asyncio.wait_for(take(reports, total), WAIT_S)
        await producer
        await reports.aclose()  # type: ignore[attr-defined]
    assert seen == list(range(1, total + 1))
    assert fake.opened > total // 12


async def test_resuming_starts_after_the_given_sequence() -> None:
    fake = CuttingStream(seed=9)
    await fake.append(100)
    async with serving(fake) as address, client_for(address) as client:
        reports = client.reports("ACC1", from_sequence=40)
        seen = await asyncio.wait_for(take(reports, 60), WAIT_S)
        await reports.aclose()  # type: ignore[attr-defined]
    assert seen == list(range(41, 101))


class GappyStream(order_service_pb2_grpc.OrderServiceServicer):
    """The first stream skips sequence 3 and then stays open; later ones are whole."""

    def __init__(self) -> None:
        self.requests: list[int] = []

    async def StreamExecutionReports(self, request, context):  # type: ignore[no-untyped-def]
        self.requests.append(request.from_sequence)
        skip = {3} if len(self.requests) == 1 else set()
        for sequence in range(request.from_sequence + 1, 6):
            if sequence not in skip:
                report = order_pb2.ExecutionReport(sequence=sequence)
                yield pb.StreamExecutionReportsResponse(report=report)
        await asyncio.Event().wait()


async def test_a_sequence_gap_reopens_the_stream_from_the_last_report() -> None:
    fake = GappyStream()
    async with serving(fake) as address, client_for(address) as client:
        reports = client.reports("ACC1")
        seen = await asyncio.wait_for(take(reports, 5), WAIT_S)
        await reports.aclose()  # type: ignore[attr-defined]
    assert seen == [1, 2, 3, 4, 5]
    assert fake.requests == [0, 2]


class RefusingStream(order_service_pb2_grpc.OrderServiceServicer):
    async def StreamExecutionReports(self, request, context):  # type: ignore[no-untyped-def]
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, "not yours")
        yield pb.StreamExecutionReportsResponse()  # pragma: no cover


async def test_a_refused_stream_raises_instead_of_reconnecting() -> None:
    async with serving(RefusingStream()) as address, client_for(address) as client:
        with pytest.raises(PermissionDenied):
            await asyncio.wait_for(take(client.reports("ACC2"), 1), WAIT_S)


async def test_a_stream_that_cannot_reconnect_gives_up_with_the_last_error() -> None:
    reconnect = ReconnectPolicy(initial_backoff_s=0.001, max_backoff_s=0.01, max_attempts=3)
    async with client_for("127.0.0.1:1", reconnect=reconnect) as client:
        with pytest.raises(Unavailable):
            await asyncio.wait_for(take(client.reports("ACC1"), 1), WAIT_S)


async def test_closing_the_client_ends_an_open_stream_with_an_oms_error(
    oms_sqlite: RunningOms,
) -> None:
    assert oms_sqlite.app is not None
    client = client_for(oms_sqlite.app.address)
    await buy(client, "close-1")
    reports = client.reports("ACC1")
    assert await asyncio.wait_for(take(reports, 1), WAIT_S) == [1]
    reader = asyncio.create_task(take(reports, 1))
    await eventually(lambda: oms_sqlite.app is not None and oms_sqlite.app.hub.subscriber_count())
    await client.close()
    with pytest.raises(OmsError, match="closed") as closed:
        await asyncio.wait_for(reader, WAIT_S)
    assert closed.value.code == grpc.StatusCode.CANCELLED


async def test_cancelling_the_reader_cancels_the_stream(
    oms_sqlite: RunningOms, client: OmsClient
) -> None:
    app = oms_sqlite.app
    assert app is not None
    reader = asyncio.create_task(take(client.reports("ACC1"), 1))
    await eventually(lambda: app.hub.subscriber_count() == 1)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(reader, WAIT_S)
    await eventually(lambda: app.hub.subscriber_count() == 0)


def self_signed_certificate(directory: Path) -> tuple[bytes, bytes]:
    """(key, certificate) for 127.0.0.1, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=WAIT_S,
    )  # fmt: skip
    return key.read_bytes(), cert.read_bytes()


async def test_tls_with_a_given_root_certificate(tmp_path: Path) -> None:
    key, cert = self_signed_certificate(tmp_path)
    credentials = grpc.ssl_server_credentials([(key, cert)])
    async with serving(FlakyCommands(failures=0), credentials) as address:
        async with client_for(address, tls=TlsOptions(root_certificates=cert)) as client:
            order = await buy(client, "tls-1")
        assert order.client_order_id == "tls-1"
        async with client_for(address) as plaintext:
            with pytest.raises(Unavailable):
                await buy(plaintext, "plain-1")

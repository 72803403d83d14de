"""OrderService.OrderEntry over real gRPC on loopback, against a real database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2

from oms_server.api.order_entry import MAX_IN_FLIGHT_PER_STREAM
from oms_server.domain.access import Role
from protos.oms.v1 import common_pb2
from protos.oms.v1 import order_service_pb2 as pb
from tests.support.fixtures import RunningOms, call_metadata
from tests.support.orders import limit_buy

pytestmark = pytest.mark.timeout(60)

MD = call_metadata()
STREAM_TIMEOUT_S = 30


async def exchange(
    oms: RunningOms, requests: Sequence[pb.OrderEntryRequest], metadata: tuple = MD
) -> dict[str, pb.OrderEntryResponse]:
    """Send every request on one stream; the answers by correlation id."""

    async def sent() -> AsyncIterator[pb.OrderEntryRequest]:
        for request in requests:
            yield request

    call = oms.orders.OrderEntry(sent(), metadata=metadata, timeout=STREAM_TIMEOUT_S)
    answers = {a.correlation_id: a async for a in call}
    assert len(answers) == len(requests)
    return answers


def submit(correlation_id: str, client_order_id: str, **fields: object) -> pb.OrderEntryRequest:
    return pb.OrderEntryRequest(
        correlation_id=correlation_id, submit=limit_buy(client_order_id, **fields)
    )


def error_info(answer: pb.OrderEntryResponse) -> tuple[int, str, list[str]]:
    """The code, ErrorInfo reason and BadRequest fields of a refused request."""
    status = status_pb2.Status.FromString(answer.error.SerializeToString())
    reason, fields = "", []
    for detail in status.details:
        info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Unpack(info):
            reason = info.reason
        elif detail.Unpack(bad):
            fields += [v.field for v in bad.field_violations]
    return status.code, reason, fields


async def test_submit_cancel_and_replace_over_one_stream(oms: RunningOms) -> None:
    first = await exchange(oms, [submit("s1", "e-1"), submit("s2", "e-2")])
    one, two = first["s1"].order, first["s2"].order
    assert one.state == two.state == common_pb2.ORDER_STATE_NEW
    second = await exchange(
        oms,
        [
            pb.OrderEntryRequest(
                correlation_id="c1", cancel=pb.CancelOrderRequest(order_id=one.order_id)
            ),
            pb.OrderEntryRequest(
                correlation_id="r1",
                replace=pb.ReplaceOrderRequest(order_id=two.order_id, quantity="150"),
            ),
        ],
    )
    assert second["c1"].order.state == common_pb2.ORDER_STATE_CANCELED
    replacement = second["r1"].order
    assert replacement.quantity == "150"
    assert replacement.order_id != two.order_id


async def test_refusals_carry_the_unary_calls_status_and_details(oms: RunningOms) -> None:
    answers = await exchange(
        oms,
        [
            submit("bad-qty", "e-bad", quantity="-1"),
            submit("other", "e-other", account_id="ACC2"),
            pb.OrderEntryRequest(
                correlation_id="missing", cancel=pb.CancelOrderRequest(order_id="nope")
            ),
            pb.OrderEntryRequest(correlation_id="empty"),
        ],
    )
    assert error_info(answers["bad-qty"]) == (
        code_pb2.INVALID_ARGUMENT,
        "INVALID_FIELD",
        ["quantity"],
    )
    assert error_info(answers["other"])[:2] == (
        code_pb2.PERMISSION_DENIED,
        "ACCOUNT_NOT_PERMITTED",
    )
    assert error_info(answers["missing"])[0] == code_pb2.NOT_FOUND
    assert error_info(answers["empty"])[2] == ["action"]
    with pytest.raises(grpc.aio.AioRpcError) as unary:
        await oms.orders.SubmitOrder(limit_buy("e-bad", quantity="-1"), metadata=MD)
    assert answers["bad-qty"].error.message == unary.value.details()


async def test_a_retried_client_order_id_returns_the_same_order(oms: RunningOms) -> None:
    unary = await oms.orders.SubmitOrder(limit_buy("e-same"), metadata=MD)
    answers = await exchange(oms, [submit(f"a{i}", "e-same") for i in range(20)])
    assert {a.order.order_id for a in answers.values()} == {unary.order.order_id}


async def test_an_answer_is_sent_only_after_its_commit(oms: RunningOms) -> None:
    answers = await exchange(oms, [submit("durable", "e-durable")])
    order_id = answers["durable"].order.order_id
    await oms.restart()
    stored = await oms.orders.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=MD)
    assert stored.order.client_order_id == "e-durable"


async def test_many_requests_in_flight_are_all_answered(oms: RunningOms) -> None:
    count = MAX_IN_FLIGHT_PER_STREAM * 2
    answers = await exchange(oms, [submit(f"m{i}", f"e-many-{i}") for i in range(count)])
    assert all(a.HasField("order") for a in answers.values())
    assert len({a.order.order_id for a in answers.values()}) == count


async def test_a_stream_without_a_valid_token_is_unauthenticated(oms: RunningOms) -> None:
    forged = (("authorization", "Bearer " + "x" * 40),)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await exchange(oms, [submit("x", "e-x")], metadata=forged)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_access_is_checked_per_request(oms: RunningOms) -> None:
    both = call_metadata(Role.TRADER, ("ACC2",))
    answers = await exchange(
        oms, [submit("mine", "e-acc2", account_id="ACC2"), submit("theirs", "e-acc1")], both
    )
    assert answers["mine"].HasField("order")
    assert error_info(answers["theirs"])[0] == code_pb2.PERMISSION_DENIED


async def test_answers_come_in_completion_order_while_the_stream_stays_open(
    oms: RunningOms,
) -> None:
    requests: asyncio.Queue[pb.OrderEntryRequest | None] = asyncio.Queue()

    async def sent() -> AsyncIterator[pb.OrderEntryRequest]:
        while (request := await requests.get()) is not None:
            yield request

    call = oms.orders.OrderEntry(sent(), metadata=MD, timeout=STREAM_TIMEOUT_S)
    for i in range(3):
        requests.put_nowait(submit(f"open-{i}", f"e-open-{i}"))
        answer = await call.read()
        assert answer.correlation_id == f"open-{i}"
    requests.put_nowait(None)
    assert await call.read() == grpc.aio.EOF

"""Access control on every RPC, generated from the service descriptors.

Each RPC is called with no token, with a trader token for another account, with a
trader token for the account, and with an admin token. A new RPC without an entry
in REQUESTS fails the completeness test, so none can be forgotten.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
import pytest
from google.protobuf.message import Message

from oms_server.domain.access import Role
from protos.oms.v1 import (
    account_service_pb2,
    admin_service_pb2,
    common_pb2,
    market_data_service_pb2,
    order_service_pb2,
)
from tests.support.fixtures import RunningOms, call_metadata
from tests.support.orders import limit_buy

SERVICES = {
    "oms.v1.OrderService": order_service_pb2,
    "oms.v1.AccountService": account_service_pb2,
    "oms.v1.MarketDataService": market_data_service_pb2,
    "oms.v1.AdminService": admin_service_pb2,
}
ADMIN_ONLY = {
    "CreateAccount",
    "Deposit",
    "SetRiskLimits",
    "Halt",
    "Resume",
    "ListVenues",
    "ListShards",
}
#: RPCs that name no account: any authenticated caller may use them.
ACCOUNT_FREE = {"ListInstruments", "GetQuote", "StreamQuotes"}
ORDER_ID: dict[str, str] = {}

o, a, m, d = order_service_pb2, account_service_pb2, market_data_service_pb2, admin_service_pb2
REQUESTS: dict[str, Callable[[], Message]] = {
    "SubmitOrder": lambda: limit_buy("matrix-new"),
    "SubmitOrderList": lambda: o.SubmitOrderListRequest(
        account_id="ACC1",
        list_client_id="matrix-list",
        contingency_type=common_pb2.CONTINGENCY_TYPE_OCO,
        orders=[limit_buy("matrix-l1"), limit_buy("matrix-l2", limit_price="189.00")],
    ),
    "CancelOrder": lambda: o.CancelOrderRequest(order_id=ORDER_ID["id"]),
    "ReplaceOrder": lambda: o.ReplaceOrderRequest(order_id=ORDER_ID["id"], quantity="150"),
    "GetOrder": lambda: o.GetOrderRequest(order_id=ORDER_ID["id"]),
    "ListOrders": lambda: o.ListOrdersRequest(account_id="ACC1"),
    "GetOrderEvents": lambda: o.GetOrderEventsRequest(order_id=ORDER_ID["id"]),
    "StreamExecutionReports": lambda: o.StreamExecutionReportsRequest(account_id="ACC1"),
    "CancelAllOrders": lambda: o.CancelAllOrdersRequest(account_id="ACC1", symbol="MSFT"),
    "ListExecutions": lambda: o.ListExecutionsRequest(account_id="ACC1"),
    "OrderEntry": lambda: o.OrderEntryRequest(correlation_id="m", submit=limit_buy("matrix-e")),
    "CreateAccount": lambda: a.CreateAccountRequest(account_id="NEWACC"),
    "Deposit": lambda: a.DepositRequest(account_id="ACC1", amount="1"),
    "GetAccount": lambda: a.GetAccountRequest(account_id="ACC1"),
    "SetRiskLimits": lambda: a.SetRiskLimitsRequest(account_id="ACC1"),
    "ListInstruments": lambda: m.ListInstrumentsRequest(),
    "GetQuote": lambda: m.GetQuoteRequest(symbol="AAPL"),
    "StreamQuotes": lambda: m.StreamQuotesRequest(symbols=["AAPL"]),
    "Halt": lambda: d.HaltRequest(account_id="ACC2"),
    "Resume": lambda: d.ResumeRequest(account_id="ACC2"),
    "ListVenues": lambda: d.ListVenuesRequest(),
    "ListShards": lambda: d.ListShardsRequest(),
}


def all_rpcs() -> list[tuple[str, str, bool]]:
    rpcs = []
    for service_name, module in SERVICES.items():
        service = module.DESCRIPTOR.services_by_name[service_name.split(".")[-1]]
        for method in service.methods:
            rpcs.append((service_name, method.name, method.server_streaming))
    return rpcs


def test_every_rpc_has_a_request_in_the_matrix() -> None:
    assert {name for _, name, _ in all_rpcs()} == set(REQUESTS)


async def call(
    oms: RunningOms, service: str, method: str, streaming: bool, metadata: tuple
) -> grpc.StatusCode:
    """The status an RPC ends with (OK for a stream that starts sending)."""
    assert oms.channel is not None
    path = f"/{service}/{method}"
    request = REQUESTS[method]()
    module = SERVICES[service]
    response_type = getattr(module, f"{method}Response")
    kwargs = {
        "request_serializer": type(request).SerializeToString,
        "response_deserializer": response_type.FromString,
    }
    try:
        if method == "OrderEntry":  # bidirectional: each request's refusal is its answer
            return await _entry_call(oms.channel.stream_stream(path, **kwargs), request, metadata)
        if streaming:
            stream = oms.channel.unary_stream(path, **kwargs)(request, metadata=metadata)
            await asyncio.wait_for(stream.read(), 5)
            stream.cancel()
        else:
            await oms.channel.unary_unary(path, **kwargs)(request, metadata=metadata, timeout=5)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def _entry_call(
    entry: grpc.aio.StreamStreamMultiCallable, request: Message, metadata: tuple
) -> grpc.StatusCode:
    """The status of one OrderEntry request: the stream's own, else its answer's."""
    stream = entry(iter([request]), metadata=metadata, timeout=5)
    answer = await asyncio.wait_for(stream.read(), 5)
    stream.cancel()
    if answer.HasField("error"):
        return next(c for c in grpc.StatusCode if c.value[0] == answer.error.code)
    return grpc.StatusCode.OK


@pytest.mark.parametrize(("service", "method", "streaming"), all_rpcs())
async def test_access_matrix(
    oms_sqlite: RunningOms, service: str, method: str, streaming: bool
) -> None:
    first = await oms_sqlite.orders.SubmitOrder(limit_buy("matrix-1"), metadata=call_metadata())
    ORDER_ID["id"] = first.order.order_id
    own = call_metadata(Role.TRADER, ("ACC1",))
    other = call_metadata(Role.TRADER, ("ACC2",))
    admin = call_metadata(Role.ADMIN, ())
    denied = {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED}

    assert await call(oms_sqlite, service, method, streaming, ()) == grpc.StatusCode.UNAUTHENTICATED
    forged = (("authorization", "Bearer " + "x" * 40),)
    assert await call(oms_sqlite, service, method, streaming, forged) == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    other_code = await call(oms_sqlite, service, method, streaming, other)
    own_code = await call(oms_sqlite, service, method, streaming, own)
    if method in ADMIN_ONLY:
        assert other_code == own_code == grpc.StatusCode.PERMISSION_DENIED
    elif method in ACCOUNT_FREE:
        assert other_code not in denied and own_code not in denied
    else:
        assert other_code in {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND}
        assert own_code not in denied
    assert await call(oms_sqlite, service, method, streaming, admin) not in denied

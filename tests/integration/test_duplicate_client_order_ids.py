"""A reused client_order_id by FIX rules, through gRPC, the SDK and omsctl.

The same terms answer the existing order; any other term is ALREADY_EXISTS with reason
DUPLICATE_CLIENT_ORDER_ID, a message naming the existing order and the first term that
differs, and nothing changes: not in memory, not after a restart (the store answers).
"""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from clients.omsctl import EXIT_REFUSED
from clients.sdk import AlreadyExists, DuplicateClientOrderId, OmsClient
from oms_server.domain.access import Role
from oms_server.engine import idempotency, live_orders
from protos.oms.v1 import account_service_pb2, account_service_pb2_grpc, common_pb2
from protos.oms.v1 import order_service_pb2 as pb
from tests.support.fixtures import RunningOms, call_metadata, token
from tests.support.omsctl import Omsctl
from tests.support.orders import limit_buy

MD = call_metadata()
ADMIN_MD = call_metadata(Role.ADMIN, ())


def msft_sell(client_order_id: str) -> pb.SubmitOrderRequest:
    """The issue's example: completely different terms under a taken key."""
    return limit_buy(
        client_order_id, symbol="MSFT", side=common_pb2.SIDE_SELL, quantity="1", limit_price="420"
    )


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    raise AssertionError("no ErrorInfo")


async def footprint(oms: RunningOms) -> tuple[int, int, str]:
    """Stored orders, stored events, and the account's reserved cash."""
    assert oms.app is not None and oms.app.store is not None and oms.channel is not None
    accounts = account_service_pb2_grpc.AccountServiceStub(oms.channel)
    account = await accounts.GetAccount(
        account_service_pb2.GetAccountRequest(account_id="ACC1"), metadata=ADMIN_MD
    )
    store = oms.app.store
    return (
        await store.count("orders"),
        await store.count("order_events"),
        account.account.reserved_cash,
    )


async def refused(oms: RunningOms, request: pb.SubmitOrderRequest) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await oms.orders.SubmitOrder(request, metadata=MD)
    return caught.value


@pytest.mark.parametrize("restart", [False, True], ids=["in-memory", "after-restart"])
async def test_other_terms_are_refused_naming_the_order_and_term(
    oms: RunningOms, restart: bool
) -> None:
    first = (await oms.orders.SubmitOrder(limit_buy("dup-1"), metadata=MD)).order
    if restart:
        await oms.restart()
    before = await footprint(oms)
    error = await refused(oms, msft_sell("dup-1"))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error.details() == (
        f"client_order_id 'dup-1' is already used by order {first.order_id} with other "
        "terms: its symbol is AAPL, not MSFT"
    )
    info = error_info(error)
    assert info.reason == "DUPLICATE_CLIENT_ORDER_ID"
    assert dict(info.metadata) == {"order_id": first.order_id, "term": "symbol"}
    assert await footprint(oms) == before
    again = (await oms.orders.SubmitOrder(limit_buy("dup-1"), metadata=MD)).order
    assert (again.order_id, again.quantity) == (first.order_id, first.quantity)
    assert await footprint(oms) == before


@pytest.mark.parametrize(
    ("change", "term"),
    [
        ({"side": common_pb2.SIDE_SELL}, "side"),
        ({"order_type": common_pb2.ORDER_TYPE_MARKET, "limit_price": ""}, "order_type"),
        ({"time_in_force": common_pb2.TIME_IN_FORCE_GTC}, "time_in_force"),
        ({"quantity": "101"}, "quantity"),
        ({"limit_price": "189.99"}, "limit_price"),
        ({"routing_strategy": common_pb2.ROUTING_STRATEGY_LIQUIDITY}, "routing_strategy"),
    ],
)
async def test_each_term_counts(oms_sqlite: RunningOms, change: dict, term: str) -> None:
    await oms_sqlite.orders.SubmitOrder(limit_buy("dup-t"), metadata=MD)
    error = await refused(oms_sqlite, limit_buy("dup-t", **change))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_info(error).metadata["term"] == term


async def test_the_same_terms_written_differently_are_a_retry(oms_sqlite: RunningOms) -> None:
    first = (await oms_sqlite.orders.SubmitOrder(limit_buy("dup-s"), metadata=MD)).order
    retry = limit_buy("dup-s", quantity="100.000", limit_price="190")
    again = (await oms_sqlite.orders.SubmitOrder(retry, metadata=MD)).order
    assert again.order_id == first.order_id


async def test_a_key_evicted_from_memory_is_refused_from_the_store(
    oms_sqlite: RunningOms, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "CLIENT_IDS_KEPT", 2)
    await oms_sqlite.restart()  # the engine now keeps two keys
    first = (await oms_sqlite.orders.SubmitOrder(limit_buy("old"), metadata=MD)).order
    for i in range(5):
        await oms_sqlite.orders.SubmitOrder(limit_buy(f"newer-{i}"), metadata=MD)
    before = await footprint(oms_sqlite)
    error = await refused(oms_sqlite, limit_buy("old", quantity="5"))
    assert error_info(error).metadata == {"order_id": first.order_id, "term": "quantity"}
    assert await footprint(oms_sqlite) == before


async def test_a_finished_order_no_longer_in_memory_is_compared_from_the_store(
    oms_sqlite: RunningOms, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_orders, "RECENT_ORDERS_KEPT", 0)
    first = (await oms_sqlite.orders.SubmitOrder(limit_buy("gone"), metadata=MD)).order
    await oms_sqlite.orders.CancelOrder(pb.CancelOrderRequest(order_id=first.order_id), metadata=MD)
    before = await footprint(oms_sqlite)
    error = await refused(oms_sqlite, limit_buy("gone", limit_price="180"))
    assert error_info(error).metadata == {"order_id": first.order_id, "term": "limit_price"}
    assert await footprint(oms_sqlite) == before
    again = (await oms_sqlite.orders.SubmitOrder(limit_buy("gone"), metadata=MD)).order
    assert (again.order_id, again.state) == (first.order_id, common_pb2.ORDER_STATE_CANCELED)


async def test_the_sdk_raises_a_typed_error(oms_sqlite: RunningOms) -> None:
    assert oms_sqlite.app is not None
    async with OmsClient(oms_sqlite.app.address, token()) as client:
        first = await client.submit_order(
            account_id="ACC1", symbol="AAPL", side="buy", quantity=100, limit_price="190",
            client_order_id="dup-sdk",
        )  # fmt: skip
        with pytest.raises(DuplicateClientOrderId) as caught:
            await client.submit_order(
                account_id="ACC1", symbol="MSFT", side="sell", quantity=1, limit_price="420",
                client_order_id="dup-sdk",
            )  # fmt: skip
    error = caught.value
    assert isinstance(error, AlreadyExists)
    assert (error.order_id, error.term, error.reason) == (
        first.order_id,
        "symbol",
        "DUPLICATE_CLIENT_ORDER_ID",
    )
    assert str(error) == (
        "oms-client: ALREADY_EXISTS DUPLICATE_CLIENT_ORDER_ID: client_order_id 'dup-sdk' is "
        f"already used by order {first.order_id} with other terms: its symbol is AAPL, not MSFT"
    )


async def test_omsctl_prints_one_line(
    oms_sqlite: RunningOms, capsys: pytest.CaptureFixture[str]
) -> None:
    assert oms_sqlite.app is not None
    omsctl = Omsctl(oms_sqlite.app.address, capsys, default_token=token())
    first = await omsctl("--json", "submit", "AAPL", "buy", "100", "--limit", "190",
                         "--account", "ACC1", "--client-order-id", "dup-cli")  # fmt: skip
    order_id = first.json()["order_id"]
    run = await omsctl("submit", "MSFT", "sell", "1", "--limit", "420",
                       "--account", "ACC1", "--client-order-id", "dup-cli")  # fmt: skip
    assert run.code == EXIT_REFUSED
    assert run.err == (
        "omsctl: error: ALREADY_EXISTS (DUPLICATE_CLIENT_ORDER_ID): client_order_id 'dup-cli' "
        f"is already used by order {order_id} with other terms: its symbol is AAPL, not MSFT\n"
    )
    assert run.out == ""

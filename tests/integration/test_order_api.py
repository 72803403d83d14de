"""OrderService over real gRPC on loopback, against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

import grpc
import pytest

from oms_server.domain.access import Role
from protos.oms.v1 import common_pb2
from protos.oms.v1 import order_service_pb2 as pb
from tests.support.fixtures import RunningOms, call_metadata
from tests.support.orders import error_reason, field_violations, limit_buy

MD = call_metadata()
ADMIN = call_metadata(Role.ADMIN, ())


async def stored_counts(oms: RunningOms) -> tuple[int, int]:
    assert oms.app is not None and oms.app.store is not None
    return await oms.app.store.count("orders"), await oms.app.store.count("order_events")


async def test_submit_acknowledges_a_new_order_with_exact_decimals(oms: RunningOms) -> None:
    reply = await oms.orders.SubmitOrder(
        limit_buy(quantity="100", limit_price="190.10"), metadata=MD
    )
    order = reply.order
    assert order.order_id
    assert order.state == common_pb2.ORDER_STATE_NEW
    assert (order.quantity, order.limit_price, order.cum_qty, order.leaves_qty) == (
        "100",
        "190.1",
        "0",
        "100",
    )
    fetched = await oms.orders.GetOrder(pb.GetOrderRequest(order_id=order.order_id), metadata=MD)
    assert fetched.order == order
    assert await stored_counts(oms) == (1, 1)


INVALID = [
    ({"account_id": ""}, "account_id"),
    ({"client_order_id": ""}, "client_order_id"),
    ({"client_order_id": "x" * 65}, "client_order_id"),
    ({"client_order_id": "bad\nid"}, "client_order_id"),
    ({"symbol": ""}, "symbol"),
    ({"symbol": "NOPE"}, "symbol"),
    ({"side": common_pb2.SIDE_UNSPECIFIED}, "side"),
    ({"side": 99}, "side"),
    ({"order_type": common_pb2.ORDER_TYPE_UNSPECIFIED}, "order_type"),
    ({"time_in_force": common_pb2.TIME_IN_FORCE_UNSPECIFIED}, "time_in_force"),
    ({"quantity": ""}, "quantity"),
    ({"quantity": "0"}, "quantity"),
    ({"quantity": "-5"}, "quantity"),
    ({"quantity": "1.5"}, "quantity"),
    ({"quantity": "NaN"}, "quantity"),
    ({"limit_price": ""}, "limit_price"),
    ({"limit_price": "190.001"}, "limit_price"),
    ({"limit_price": "-1"}, "limit_price"),
    ({"order_type": common_pb2.ORDER_TYPE_MARKET}, "limit_price"),
    ({"order_type": common_pb2.ORDER_TYPE_STOP_LIMIT}, "stop_price"),
    ({"routing_strategy": common_pb2.ROUTING_STRATEGY_DIRECT}, "venue"),
    ({"routing_strategy": 42}, "routing_strategy"),
]


@pytest.mark.parametrize(("overrides", "field"), INVALID)
async def test_invalid_submits_name_the_field_and_store_nothing(
    oms: RunningOms, overrides: dict[str, object], field: str
) -> None:
    metadata = ADMIN if "account_id" in overrides else MD
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await oms.orders.SubmitOrder(limit_buy(**overrides), metadata=metadata)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(refused.value) == [field]
    assert await stored_counts(oms) == (0, 0)


async def test_concurrent_retries_of_one_client_order_id_create_one_order(oms: RunningOms) -> None:
    replies = await asyncio.gather(
        *(oms.orders.SubmitOrder(limit_buy("same-id"), metadata=MD) for _ in range(200))
    )
    assert len({r.order.order_id for r in replies}) == 1
    assert await stored_counts(oms) == (1, 1)


async def test_a_retry_after_restart_returns_the_same_order(oms: RunningOms) -> None:
    first = await oms.orders.SubmitOrder(limit_buy("retry-me"), metadata=MD)
    await oms.orders.CancelOrder(pb.CancelOrderRequest(order_id=first.order.order_id), metadata=MD)
    await oms.restart()
    again = await oms.orders.SubmitOrder(limit_buy("retry-me"), metadata=MD)
    assert again.order.order_id == first.order.order_id
    assert again.order.state == common_pb2.ORDER_STATE_CANCELED
    assert await stored_counts(oms) == (1, 3)


async def test_cancel_ends_the_order_and_a_second_cancel_is_refused(oms: RunningOms) -> None:
    order = (await oms.orders.SubmitOrder(limit_buy(), metadata=MD)).order
    canceled = await oms.orders.CancelOrder(
        pb.CancelOrderRequest(order_id=order.order_id), metadata=MD
    )
    assert canceled.order.state == common_pb2.ORDER_STATE_CANCELED
    assert canceled.order.leaves_qty == "0"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await oms.orders.CancelOrder(pb.CancelOrderRequest(order_id=order.order_id), metadata=MD)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(refused.value) == "ORDER_NOT_WORKING"


async def test_cancel_of_an_unknown_order_is_not_found(oms: RunningOms) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await oms.orders.CancelOrder(pb.CancelOrderRequest(order_id="nope"), metadata=MD)
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


async def test_replace_chains_orders_and_keeps_the_audit_trail(oms: RunningOms) -> None:
    original = (await oms.orders.SubmitOrder(limit_buy(quantity="100"), metadata=MD)).order
    replaced = await oms.orders.ReplaceOrder(
        pb.ReplaceOrderRequest(order_id=original.order_id, quantity="150", limit_price="189.50"),
        metadata=MD,
    )
    new = replaced.order
    assert new.order_id != original.order_id
    assert (new.quantity, new.limit_price, new.state) == (
        "150",
        "189.5",
        common_pb2.ORDER_STATE_NEW,
    )
    assert new.replaces_order_id == original.order_id
    old = (
        await oms.orders.GetOrder(pb.GetOrderRequest(order_id=original.order_id), metadata=MD)
    ).order
    assert old.state == common_pb2.ORDER_STATE_REPLACED
    assert old.replaced_by_order_id == new.order_id
    trail = await oms.orders.GetOrderEvents(
        pb.GetOrderEventsRequest(order_id=original.order_id), metadata=MD
    )
    assert [e.exec_type for e in trail.events] == [
        common_pb2.EXEC_TYPE_NEW,
        common_pb2.EXEC_TYPE_PENDING_REPLACE,
        common_pb2.EXEC_TYPE_REPLACED,
    ]
    assert [e.order_state for e in trail.events][-1] == common_pb2.ORDER_STATE_REPLACED


async def test_replace_with_a_client_order_id_is_idempotent(oms: RunningOms) -> None:
    original = (await oms.orders.SubmitOrder(limit_buy(), metadata=MD)).order
    request = pb.ReplaceOrderRequest(
        order_id=original.order_id, quantity="120", client_order_id="r1"
    )
    first = await oms.orders.ReplaceOrder(request, metadata=MD)
    second = await oms.orders.ReplaceOrder(request, metadata=MD)
    assert first.order.order_id == second.order.order_id
    assert await stored_counts(oms) == (2, 4)


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({}, grpc.StatusCode.INVALID_ARGUMENT, "quantity"),
        ({"quantity": "100"}, grpc.StatusCode.INVALID_ARGUMENT, "quantity"),
        ({"quantity": "10.5"}, grpc.StatusCode.INVALID_ARGUMENT, "quantity"),
        ({"limit_price": "1.001"}, grpc.StatusCode.INVALID_ARGUMENT, "limit_price"),
        ({"limit_price": "abc"}, grpc.StatusCode.INVALID_ARGUMENT, "limit_price"),
    ],
)
async def test_bad_replaces_are_refused_and_change_nothing(
    oms: RunningOms, change: dict[str, str], code: grpc.StatusCode, field: str
) -> None:
    original = (await oms.orders.SubmitOrder(limit_buy(), metadata=MD)).order
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await oms.orders.ReplaceOrder(
            pb.ReplaceOrderRequest(order_id=original.order_id, **change), metadata=MD
        )
    assert refused.value.code() == code
    assert field_violations(refused.value) == [field]
    after = await oms.orders.GetOrder(pb.GetOrderRequest(order_id=original.order_id), metadata=MD)
    assert after.order == original
    assert await stored_counts(oms) == (1, 1)


async def test_list_orders_pages_newest_first_and_filters(oms: RunningOms) -> None:
    ids = []
    for i in range(7):
        symbol = "MSFT" if i % 2 else "AAPL"
        reply = await oms.orders.SubmitOrder(limit_buy(f"c{i}", symbol=symbol), metadata=MD)
        ids.append(reply.order.order_id)
    await oms.orders.CancelOrder(pb.CancelOrderRequest(order_id=ids[0]), metadata=MD)
    seen, token = [], ""
    while True:
        page = await oms.orders.ListOrders(
            pb.ListOrdersRequest(account_id="ACC1", page_size=3, page_token=token), metadata=MD
        )
        assert len(page.orders) <= 3
        seen += [o.order_id for o in page.orders]
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(ids))
    msft = await oms.orders.ListOrders(
        pb.ListOrdersRequest(account_id="ACC1", symbol="MSFT"), metadata=MD
    )
    assert [o.order_id for o in msft.orders] == [ids[5], ids[3], ids[1]]
    canceled = await oms.orders.ListOrders(
        pb.ListOrdersRequest(account_id="ACC1", states=[common_pb2.ORDER_STATE_CANCELED]),
        metadata=MD,
    )
    assert [o.order_id for o in canceled.orders] == [ids[0]]


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [({"page_size": -1}, "page_size"), ({"page_token": "garbage!"}, "page_token")],
)
async def test_list_orders_refuses_bad_paging(
    oms: RunningOms, request_fields: dict[str, object], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await oms.orders.ListOrders(
            pb.ListOrdersRequest(account_id="ACC1", **request_fields), metadata=MD
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(refused.value) == [field]


async def test_calls_without_a_valid_token_are_unauthenticated(oms: RunningOms) -> None:
    for metadata in [(), (("authorization", "Bearer not-a-jwt"),)]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await oms.orders.SubmitOrder(limit_buy(), metadata=metadata)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert await stored_counts(oms) == (0, 0)


async def test_one_account_never_sees_another_accounts_orders(oms: RunningOms) -> None:
    other = call_metadata(Role.TRADER, ("ACC2",))
    order = (await oms.orders.SubmitOrder(limit_buy(), metadata=MD)).order
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await oms.orders.SubmitOrder(limit_buy(account_id="ACC1"), metadata=other)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    for call in (
        oms.orders.GetOrder(pb.GetOrderRequest(order_id=order.order_id), metadata=other),
        oms.orders.CancelOrder(pb.CancelOrderRequest(order_id=order.order_id), metadata=other),
        oms.orders.GetOrderEvents(
            pb.GetOrderEventsRequest(order_id=order.order_id), metadata=other
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as hidden:
            await call
        assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
    admin_view = await oms.orders.GetOrder(
        pb.GetOrderRequest(order_id=order.order_id), metadata=ADMIN
    )
    assert admin_view.order.state == common_pb2.ORDER_STATE_NEW


async def test_health_and_reflection_answer_without_a_token(oms: RunningOms) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    assert oms.channel is not None
    health = health_pb2_grpc.HealthStub(oms.channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service="oms.v1.OrderService"))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(oms.channel)
    ask = reflection_pb2.ServerReflectionRequest(list_services="")
    answers = [answer async for answer in reflection.ServerReflectionInfo(iter([ask]))]
    listed = {s.name for a in answers for s in a.list_services_response.service}
    assert {"oms.v1.OrderService", "grpc.health.v1.Health"} <= listed


async def test_a_replace_retried_after_a_restart_returns_the_same_replacement(
    oms: RunningOms,
) -> None:
    original = (await oms.orders.SubmitOrder(limit_buy(), metadata=MD)).order
    request = pb.ReplaceOrderRequest(
        order_id=original.order_id, quantity="120", client_order_id="r9"
    )
    first = await oms.orders.ReplaceOrder(request, metadata=MD)
    await oms.restart()
    again = await oms.orders.ReplaceOrder(request, metadata=MD)
    assert again.order.order_id == first.order.order_id
    assert await stored_counts(oms) == (2, 4)


async def test_undecodable_bytes_on_the_public_health_check_are_invalid_argument(
    oms: RunningOms,
) -> None:
    assert oms.channel is not None
    check = oms.channel.unary_unary("/grpc.health.v1.Health/Check")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await check(b"\xff\xff\xff\xff", timeout=5)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_halt_and_resume_are_stored_across_restarts(oms: RunningOms) -> None:
    from protos.oms.v1 import admin_service_pb2, admin_service_pb2_grpc

    def admin() -> admin_service_pb2_grpc.AdminServiceStub:
        assert oms.channel is not None
        return admin_service_pb2_grpc.AdminServiceStub(oms.channel)

    await admin().Halt(admin_service_pb2.HaltRequest(account_id="ACC1"), metadata=ADMIN)
    await oms.restart()
    with pytest.raises(grpc.aio.AioRpcError) as halted:
        await oms.orders.SubmitOrder(limit_buy("h1"), metadata=MD)
    assert error_reason(halted.value) == "TRADING_HALTED"
    await admin().Resume(admin_service_pb2.ResumeRequest(account_id="ACC1"), metadata=ADMIN)
    await admin().Halt(admin_service_pb2.HaltRequest(account_id="ACC1"), metadata=ADMIN)
    await admin().Resume(admin_service_pb2.ResumeRequest(account_id="ACC1"), metadata=ADMIN)
    await oms.restart()
    accepted = await oms.orders.SubmitOrder(limit_buy("h2"), metadata=MD)
    assert accepted.order.state == common_pb2.ORDER_STATE_NEW


async def test_a_failed_commit_stops_the_engine_and_acknowledges_nothing_after_it(
    oms_sqlite: RunningOms, sqlite_url: str
) -> None:
    stored = await oms_sqlite.orders.SubmitOrder(limit_buy("kept"), metadata=MD)
    # The journal breaks under the running OMS: its events table disappears.
    path = sqlite_url.split(":///", 1)[1]
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as broken:
        broken.execute("DROP TABLE order_events")
    replies = await asyncio.gather(
        *(oms_sqlite.orders.SubmitOrder(limit_buy(f"lost-{i}"), metadata=MD) for i in range(20)),
        return_exceptions=True,
    )
    assert all(isinstance(r, grpc.aio.AioRpcError) for r in replies), replies
    assert {r.code() for r in replies} == {grpc.StatusCode.UNAVAILABLE}  # type: ignore[union-attr]
    later = oms_sqlite.orders.SubmitOrder(limit_buy("later"), metadata=MD)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await later
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert oms_sqlite.app is not None and not oms_sqlite.app.engine.healthy  # type: ignore[union-attr]
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as check:
        ids = [row[0] for row in check.execute("SELECT client_order_id FROM orders")]
    assert ids == [stored.order.client_order_id]

"""Idempotency beyond the keys held in memory: older keys are answered by the store.

The engine keeps only its newest client order ids exactly (CLIENT_IDS_KEPT); older ones
sit in a filter, and a key the filter may hold is looked up in the store. These tests
keep five keys, so most of their orders' keys have left memory, and show that retries
still find their orders, on SQLite and PostgreSQL, before and after a restart.
"""

from __future__ import annotations

import asyncio
import random

import grpc
import pytest

from oms_server.engine import idempotency, live_orders
from oms_server.engine.client_ids import ClientOrderIds
from protos.oms.v1 import common_pb2
from protos.oms.v1 import order_service_pb2 as pb
from tests.support.fixtures import RunningOms, call_metadata
from tests.support.orders import error_reason, limit_buy

MD = call_metadata()
KEPT = 5
ORDERS = 20


@pytest.fixture
def few_keys_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idempotency, "CLIENT_IDS_KEPT", KEPT)


async def submit_many(oms: RunningOms) -> list[str]:
    """Submit ORDERS orders with keys k0..k19; their order ids in that order."""
    ids = []
    for i in range(ORDERS):
        reply = await oms.orders.SubmitOrder(limit_buy(f"k{i}", quantity=str(i + 1)), metadata=MD)
        ids.append(reply.order.order_id)
    return ids


async def order_ids_by_key(oms: RunningOms, keys: list[str]) -> dict[str, set[str]]:
    """Submit every key at once; the order ids each distinct key was answered with."""
    replies = await asyncio.gather(
        *(oms.orders.SubmitOrder(limit_buy(key), metadata=MD) for key in keys)
    )
    by_key: dict[str, set[str]] = {}
    for key, reply in zip(keys, replies, strict=True):
        by_key.setdefault(key, set()).add(reply.order.order_id)
    return by_key


async def stored_orders(oms: RunningOms) -> int:
    assert oms.app is not None and oms.app.store is not None
    return await oms.app.store.count("orders")


@pytest.mark.parametrize("restart", [False, True], ids=["live", "after-restart"])
async def test_retries_of_keys_no_longer_in_memory_return_the_original_orders(
    few_keys_kept: None, oms: RunningOms, restart: bool
) -> None:
    ids = await submit_many(oms)
    if restart:
        await oms.restart()
    for i in (0, 7, ORDERS - 1):
        again = await oms.orders.SubmitOrder(limit_buy(f"k{i}", quantity=str(i + 1)), metadata=MD)
        assert again.order.order_id == ids[i]
        with pytest.raises(grpc.aio.AioRpcError) as refused:  # the same key, other terms
            await oms.orders.SubmitOrder(limit_buy(f"k{i}", quantity="999"), metadata=MD)
        assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert error_reason(refused.value) == "DUPLICATE_CLIENT_ORDER_ID"
        assert ids[i] in (refused.value.details() or "")
    assert await stored_orders(oms) == ORDERS
    assert oms.app is not None and oms.app.engine is not None
    assert oms.app.engine.stats.key_lookups >= 2  # k0 and k7 came from the store
    fresh = await oms.orders.SubmitOrder(limit_buy("k-new"), metadata=MD)
    assert fresh.order.order_id not in ids
    assert await stored_orders(oms) == ORDERS + 1


async def test_a_retry_of_an_old_key_finds_the_order_after_it_changed(
    few_keys_kept: None, oms: RunningOms
) -> None:
    ids = await submit_many(oms)
    await oms.orders.CancelOrder(pb.CancelOrderRequest(order_id=ids[0]), metadata=MD)
    again = await oms.orders.SubmitOrder(limit_buy("k0", quantity="1"), metadata=MD)
    assert again.order.order_id == ids[0]
    assert again.order.state == common_pb2.ORDER_STATE_CANCELED


async def test_a_replace_may_not_take_an_old_key_of_another_order(
    few_keys_kept: None, oms: RunningOms
) -> None:
    ids = await submit_many(oms)
    request = pb.ReplaceOrderRequest(order_id=ids[-1], quantity="150", client_order_id="k0")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await oms.orders.ReplaceOrder(request, metadata=MD)
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_reason(refused.value) == "DUPLICATE_CLIENT_ORDER_ID"
    assert await stored_orders(oms) == ORDERS
    working = await oms.orders.GetOrder(pb.GetOrderRequest(order_id=ids[-1]), metadata=MD)
    assert working.order.state == common_pb2.ORDER_STATE_NEW


async def test_a_replace_retried_after_its_key_left_memory_returns_the_replacement(
    few_keys_kept: None, oms: RunningOms
) -> None:
    original = (await oms.orders.SubmitOrder(limit_buy("orig"), metadata=MD)).order
    request = pb.ReplaceOrderRequest(
        order_id=original.order_id, quantity="120", client_order_id="repl"
    )
    first = await oms.orders.ReplaceOrder(request, metadata=MD)
    await submit_many(oms)  # pushes "orig" and "repl" out of the recent keys
    again = await oms.orders.ReplaceOrder(request, metadata=MD)
    assert again.order.order_id == first.order.order_id
    assert await stored_orders(oms) == ORDERS + 2


async def test_concurrent_retries_of_old_and_new_keys_create_nothing_twice(
    few_keys_kept: None, oms: RunningOms
) -> None:
    ids = await submit_many(oms)
    calls = [oms.orders.SubmitOrder(limit_buy("k0", quantity="1"), metadata=MD) for _ in range(30)]
    calls += [oms.orders.SubmitOrder(limit_buy(f"burst-{i % 10}"), metadata=MD) for i in range(60)]
    replies = await asyncio.gather(*calls)
    assert {r.order.order_id for r in replies[:30]} == {ids[0]}
    assert len({r.order.order_id for r in replies[30:]}) == 10
    assert await stored_orders(oms) == ORDERS + 10


async def test_a_storm_of_retries_across_evictions_makes_one_order_per_key(
    few_keys_kept: None, oms: RunningOms
) -> None:
    """Many concurrent submits over a few keys, five kept: evictions race the lookups."""
    rng = random.Random(11)
    by_key = await order_ids_by_key(oms, [f"storm-{rng.randrange(40)}" for _ in range(300)])
    assert all(len(ids) == 1 for ids in by_key.values())
    assert len({i for ids in by_key.values() for i in ids}) == len(by_key)
    assert await stored_orders(oms) == len(by_key)
    assert oms.app is not None and oms.app.engine is not None and oms.app.engine.healthy


@pytest.fixture
def filter_says_maybe_to_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Bloom filter may answer "maybe" for any key: correctness must not depend on it."""
    monkeypatch.setattr(ClientOrderIds, "may_be_older", lambda self, key: True)


async def test_lookups_racing_evictions_never_make_a_key_twice(
    few_keys_kept: None, filter_says_maybe_to_everything: None, oms: RunningOms
) -> None:
    rng = random.Random(5)
    for wave in range(4):
        keys = [f"race-{wave}-{rng.randrange(30)}" for _ in range(150)]
        by_key = await order_ids_by_key(oms, keys)
        assert all(len(ids) == 1 for ids in by_key.values())
    assert oms.app is not None and oms.app.engine is not None and oms.app.engine.healthy


@pytest.fixture
def few_orders_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Finished orders leave memory at once; their keys stay among the recent ones."""
    monkeypatch.setattr(live_orders, "RECENT_ORDERS_KEPT", 0)


async def test_a_replace_may_not_take_the_key_of_an_order_only_the_store_holds(
    few_orders_kept: None, oms: RunningOms
) -> None:
    done = (await oms.orders.SubmitOrder(limit_buy("done"), metadata=MD)).order
    await oms.orders.CancelOrder(pb.CancelOrderRequest(order_id=done.order_id), metadata=MD)
    working = (await oms.orders.SubmitOrder(limit_buy("working"), metadata=MD)).order
    request = pb.ReplaceOrderRequest(
        order_id=working.order_id, quantity="150", client_order_id="done"
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await oms.orders.ReplaceOrder(request, metadata=MD)
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_reason(refused.value) == "DUPLICATE_CLIENT_ORDER_ID"
    again = await oms.orders.GetOrder(pb.GetOrderRequest(order_id=working.order_id), metadata=MD)
    assert again.order.state == common_pb2.ORDER_STATE_NEW
    assert await stored_orders(oms) == 2

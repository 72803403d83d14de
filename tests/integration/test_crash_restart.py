"""SIGKILL the OMS while fills flow; after a restart every venue fill is stored exactly once."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from pathlib import Path

import grpc
import pytest

from protos.oms.v1 import common_pb2, order_service_pb2
from tests.support.load import store_facts, submit_all
from tests.support.orders import limit_buy
from tests.support.process import moving_market_and_oms_process
from tests.support.reports import final_states
from tests.support.waiting import eventually
from venues.nats_runtime import EmbeddedNats

ORDERS = 300


async def test_sigkill_while_fills_flow_loses_and_doubles_nothing(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    market, oms = await moving_market_and_oms_process(nats_server, tmp_path)
    try:
        await oms.start()
        rng = random.Random(11)
        requests = [
            limit_buy(
                f"k{i}",
                quantity=str(rng.choice([50, 200, 700, 1200])),
                limit_price="190.10",
                time_in_force=common_pb2.TIME_IN_FORCE_IOC,
            )
            for i in range(ORDERS)
        ]
        submitting = asyncio.create_task(submit_all(oms, requests))
        await eventually(lambda: market.fills_made() >= 40, message="fills flowing")
        await oms.kill()
        await oms.start()
        acked = await asyncio.wait_for(submitting, 60)
        order_ids = list(acked.values())
        # Every order acknowledged once: retries across the crash created no duplicates.
        assert len(acked) == ORDERS and len(set(order_ids)) == ORDERS
        await final_states(oms, order_ids, 45)
        await eventually(
            market.exec_consumer_drained, timeout_s=20, message="every venue report consumed"
        )
        assert await oms.terminate() == 0
        facts = store_facts(oms.db_file)
        assert facts["integrity"] == "ok"
        assert facts["duplicate_execs"] == 0
        assert facts["fills"] == market.fills_made()
        orders = facts["orders"]
        assert isinstance(orders, dict)
        assert facts["fill_qty"] == sum((cum for _, _, cum in orders.values()), Decimal(0))
    finally:
        await oms.kill()
        await oms.terminate()
        await market.stop()


async def test_a_client_that_saw_the_server_down_reaches_it_at_once_after_a_restart(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    # The restarted server's first calls (opening accounts) go over a new channel while the
    # old one is still backing off from "connection refused": they must not inherit that.
    market, oms = await moving_market_and_oms_process(nats_server, tmp_path)
    try:
        await oms.start()
        old_orders = oms.orders
        await oms.kill()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await old_orders.GetOrder(order_service_pb2.GetOrderRequest(order_id="x"), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        await oms.start()
    finally:
        await oms.kill()
        await oms.terminate()
        await market.stop()

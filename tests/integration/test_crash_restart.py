"""SIGKILL the OMS while fills flow; after a restart every venue fill is stored exactly once."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from pathlib import Path

import grpc
from sqlalchemy import func, select

from oms_server.store import schema
from oms_server.store.database import create_engine
from protos.oms.v1 import common_pb2
from protos.oms.v1 import order_service_pb2 as pb
from tests.support.fixtures import call_metadata
from tests.support.orders import limit_buy
from tests.support.process import OmsProcess, moving_market_and_oms_process
from tests.support.reports import FINAL_STATES
from tests.support.waiting import eventually
from venues.nats_runtime import EmbeddedNats

MD = call_metadata()
ORDERS = 300


async def submit_until_acked(oms: OmsProcess, request: pb.SubmitOrderRequest) -> str:
    """Retry (same client_order_id) until the OMS acknowledges; returns the order id."""
    while True:
        try:
            reply = await oms.orders.SubmitOrder(request, metadata=MD, timeout=5)
            return reply.order.order_id
        except (grpc.aio.AioRpcError, AttributeError, AssertionError):
            await asyncio.sleep(0.05)


async def stored_fill_totals(db_url: str) -> tuple[int, Decimal, Decimal]:
    """(TRADE executions, their total quantity, total parent cum_qty) in the store."""
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            x, o = schema.executions.c, schema.orders.c
            rows = (await conn.execute(select(x.last_qty).where(x.exec_type == "TRADE"))).all()
            cums = (await conn.execute(select(o.cum_qty))).all()
            dupes = await conn.execute(
                select(func.count())
                .select_from(schema.executions)
                .group_by(x.venue, x.exec_id)
                .having(func.count() > 1)
            )
            assert dupes.all() == []
    finally:
        await engine.dispose()
    return len(rows), sum((r[0] for r in rows), Decimal(0)), sum((c[0] for c in cums), Decimal(0))


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
        submitting = asyncio.gather(*(submit_until_acked(oms, r) for r in requests))
        await eventually(lambda: market.fills_made() >= 40, message="fills flowing")
        await oms.kill()
        await oms.start()
        order_ids = await asyncio.wait_for(submitting, 60)
        assert len(set(order_ids)) == ORDERS  # retries across the crash created no duplicates

        async def every_order_final() -> bool:
            for order_id in order_ids:
                reply = await oms.orders.GetOrder(
                    pb.GetOrderRequest(order_id=order_id), metadata=MD
                )
                if reply.order.state not in FINAL_STATES:
                    return False
            return True

        await eventually(every_order_final, timeout_s=45, message="every order final")
        await eventually(
            market.exec_consumer_drained, timeout_s=20, message="every venue report consumed"
        )
        assert await oms.terminate() == 0
        count, quantity, parent_cum = await stored_fill_totals(oms.db_url)
        assert count == market.fills_made()
        assert quantity == parent_cum
    finally:
        await oms.kill()
        await oms.terminate()
        await market.stop()

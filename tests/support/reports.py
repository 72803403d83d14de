"""Reading execution reports and store contents in end-to-end tests."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from sqlalchemy import func, select

from oms_server.store import schema
from protos.oms.v1 import common_pb2
from protos.oms.v1 import order_service_pb2 as pb
from tests.support.fixtures import RunningOms, call_metadata
from tests.support.waiting import eventually

FINAL_STATES = {
    common_pb2.ORDER_STATE_FILLED,
    common_pb2.ORDER_STATE_CANCELED,
    common_pb2.ORDER_STATE_REJECTED,
    common_pb2.ORDER_STATE_EXPIRED,
    common_pb2.ORDER_STATE_REPLACED,
}


async def final_order(
    oms: RunningOms, order_id: str, *, timeout_s: float = 20.0, account: str = "ACC1"
) -> object:
    """The order once it reached a final state."""
    metadata = call_metadata(accounts=(account,))

    async def probe() -> object:
        reply = await oms.orders.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=metadata)
        return reply.order if reply.order.state in FINAL_STATES else None

    return await eventually(probe, timeout_s=timeout_s, message=f"order {order_id} final")


async def all_final(oms: RunningOms, order_ids: list[str], *, timeout_s: float = 30.0) -> list:
    return list(
        await asyncio.gather(*(final_order(oms, i, timeout_s=timeout_s) for i in order_ids))
    )


#: Deadline of one GetOrder while waiting for orders to end (the server may be recovering).
GET_ORDER_TIMEOUT_S = 5.0


async def final_states(oms: Any, order_ids: list[str], timeout_s: float) -> Counter[int]:
    """Wait until every order is final (asking only about those that are not yet);
    returns how many ended in each state. ``oms`` is a RunningOms or an OmsProcess."""
    pending = set(order_ids)
    states: Counter[int] = Counter()
    metadata = call_metadata()

    async def every_one_final() -> bool:
        for order_id in sorted(pending):
            reply = await oms.orders.GetOrder(
                pb.GetOrderRequest(order_id=order_id),
                metadata=metadata,
                timeout=GET_ORDER_TIMEOUT_S,
            )
            if reply.order.state in FINAL_STATES:
                pending.discard(order_id)
                states[reply.order.state] += 1
        return not pending

    await eventually(every_one_final, timeout_s=timeout_s, message=f"{len(order_ids)} orders final")
    return states


async def stored_executions(oms: RunningOms, exec_type: str | None = None) -> int:
    """Venue reports stored by the OMS (one row per venue exec_id), of ``exec_type`` or all."""
    assert oms.app is not None and oms.app.store is not None
    query = select(func.count()).select_from(schema.executions)
    if exec_type is not None:
        query = query.where(schema.executions.c.exec_type == exec_type)
    async with oms.app.store.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def stored_trade_executions(oms: RunningOms) -> int:
    """Venue fills stored by the OMS (one row per venue exec_id)."""
    return await stored_executions(oms, "TRADE")


async def order_events(oms: RunningOms, order_id: str) -> list:
    reply = await oms.orders.GetOrderEvents(
        pb.GetOrderEventsRequest(order_id=order_id), metadata=call_metadata()
    )
    return list(reply.events)

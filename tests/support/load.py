"""Order load for crash and soak tests: bursts of orders, a client that retries what a
crash interrupts, and what the store says afterwards."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from decimal import Decimal
from pathlib import Path

import grpc

from oms_server.domain.access import Role
from protos.oms.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    admin_service_pb2,
    admin_service_pb2_grpc,
    common_pb2,
)
from protos.oms.v1 import order_service_pb2 as pb
from tests.support.fixtures import call_metadata
from tests.support.orders import limit_buy
from tests.support.process import OmsProcess
from tests.support.waiting import eventually

CONCURRENCY = 32
MD = call_metadata()


def burst_requests(rng: random.Random, cycle: int, size: int) -> list[pb.SubmitOrderRequest]:
    """Marketable IOC buys and sells, and some passive DAY orders that rest."""
    requests = []
    for i in range(size):
        side = rng.choice([common_pb2.SIDE_BUY, common_pb2.SIDE_SELL])
        passive = rng.random() < 0.2
        if side == common_pb2.SIDE_BUY:
            price = "189.50" if passive else "190.20"
        else:
            price = "190.50" if passive else "189.80"
        requests.append(
            limit_buy(
                f"b{cycle}-{i}",
                side=side,
                quantity=str(rng.choice([10, 100, 400, 900])),
                limit_price=price,
                time_in_force=common_pb2.TIME_IN_FORCE_DAY
                if passive
                else common_pb2.TIME_IN_FORCE_IOC,
            )
        )
    return requests


#: Failures a crash causes; the client retries them with the same client_order_id.
RETRIED = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.UNKNOWN,
}


async def submit_all(oms: OmsProcess, requests: list[pb.SubmitOrderRequest]) -> dict[str, str]:
    """Submit every request until it is acknowledged or definitely refused.

    Crash-caused failures are retried with the same client_order_id; a definite answer
    (e.g. a risk refusal) ends that request, as it would for a real client.
    """
    acked: dict[str, str] = {}
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(request: pb.SubmitOrderRequest) -> None:
        async with semaphore:
            while True:
                try:
                    reply = await oms.orders.SubmitOrder(request, metadata=MD, timeout=5)
                    acked[request.client_order_id] = reply.order.order_id
                    return
                except grpc.aio.AioRpcError as exc:
                    if exc.code() not in RETRIED:
                        return
                except AssertionError:  # no channel between a kill and the restart
                    pass
                await asyncio.sleep(0.02)

    await asyncio.gather(*(one(r) for r in requests))
    return acked


def store_facts(db_file: Path) -> dict[str, object]:
    """What the store says, read straight from the SQLite file after the OMS stopped."""
    with sqlite3.connect(db_file) as db:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        orders = db.execute("SELECT order_id, state, quantity, cum_qty FROM orders").fetchall()
        children = {row[0] for row in db.execute("SELECT child_order_id FROM child_orders")}
        fills = db.execute("SELECT last_qty FROM executions WHERE exec_type = 'TRADE'").fetchall()
        dup = db.execute(
            "SELECT COUNT(*) FROM (SELECT venue, exec_id FROM executions "
            "GROUP BY venue, exec_id HAVING COUNT(*) > 1)"
        ).fetchone()[0]
    return {
        "integrity": integrity,
        "orders": {o[0]: (o[1], Decimal(o[2]), Decimal(o[3])) for o in orders},
        "children": children,
        "fills": len(fills),
        "fill_qty": sum((Decimal(f[0]) for f in fills), Decimal(0)),
        "duplicate_execs": dup,
    }


async def allow_heavy_trading(oms: OmsProcess) -> None:
    """Limits for a load test: shorting allowed, no rate limit to speak of, deep pockets."""
    assert oms.channel is not None
    accounts = account_service_pb2_grpc.AccountServiceStub(oms.channel)
    admin = call_metadata(Role.ADMIN, ())
    limits = account_service_pb2.RiskLimits(allow_short=True, max_orders_per_second=1_000_000)
    await accounts.SetRiskLimits(
        account_service_pb2.SetRiskLimitsRequest(account_id="ACC1", risk_limits=limits),
        metadata=admin,
    )
    await accounts.Deposit(
        account_service_pb2.DepositRequest(account_id="ACC1", amount="100000000000"),
        metadata=admin,
    )


async def finish_working_orders(oms: OmsProcess) -> None:
    """Cancel what still rests (halt, then resume) and wait for every order to end."""
    assert oms.channel is not None
    admin = admin_service_pb2_grpc.AdminServiceStub(oms.channel)
    operator = call_metadata(Role.ADMIN, ())
    await admin.Halt(admin_service_pb2.HaltRequest(reason="end of test"), metadata=operator)

    working = [
        common_pb2.ORDER_STATE_PENDING_NEW,
        common_pb2.ORDER_STATE_NEW,
        common_pb2.ORDER_STATE_PARTIALLY_FILLED,
        common_pb2.ORDER_STATE_PENDING_CANCEL,
        common_pb2.ORDER_STATE_PENDING_REPLACE,
    ]

    async def all_final() -> bool:
        """No order of the account is still working (one paged query, not one per order)."""
        request = pb.ListOrdersRequest(account_id="ACC1", states=working, page_size=1)
        reply = await oms.orders.ListOrders(request, metadata=MD)
        return not reply.orders

    await eventually(all_final, timeout_s=60, message="every order final")
    await admin.Resume(admin_service_pb2.ResumeRequest(), metadata=operator)

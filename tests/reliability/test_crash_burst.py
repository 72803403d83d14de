"""SIGKILL the OMS at random moments during order bursts, again and again.

After every kill the OMS restarts on the same store and clients retry with the same
client_order_id. At the end: every acknowledged order is stored in a legal state,
every child order a venue knows is stored exactly once, no venue fill is missing or
doubled, and SQLite's integrity check passes. Counts: CRASH_KILLS kills (default 10;
`make soak` sets more), each during a burst of CRASH_BURST orders.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sqlite3
from decimal import Decimal
from pathlib import Path

import grpc
import pytest

from oms_server.domain.access import Role
from oms_server.domain.enums import TERMINAL_STATES
from protos.oms.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    admin_service_pb2,
    admin_service_pb2_grpc,
    common_pb2,
)
from protos.oms.v1 import order_service_pb2 as pb
from tests.integration.test_crash_restart import MOVING_MARKET
from tests.support.fixtures import call_metadata
from tests.support.market import Market
from tests.support.orders import limit_buy
from tests.support.process import OmsProcess
from tests.support.waiting import eventually
from venues.nats_runtime import EmbeddedNats
from venues.scenario import parse_scenario

log = logging.getLogger(__name__)
KILLS = int(os.environ.get("CRASH_KILLS", "10"))
BURST = int(os.environ.get("CRASH_BURST", "200"))
CONCURRENCY = 32
MD = call_metadata()


def burst_requests(rng: random.Random, cycle: int) -> list[pb.SubmitOrderRequest]:
    """Marketable IOC buys and sells, and some passive DAY orders that rest."""
    requests = []
    for i in range(BURST):
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


@pytest.mark.timeout(120 + 30 * KILLS)
async def test_repeated_sigkill_during_bursts_loses_nothing(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    scenario_file = tmp_path / "scenario.toml"
    scenario_file.write_text(MOVING_MARKET)
    market = Market(nats_server, parse_scenario(MOVING_MARKET, "test"))
    await market.start()
    oms = OmsProcess(tmp_path, nats_server.url, scenario_file)
    rng = random.Random(2026)
    acked: dict[str, str] = {}
    try:
        await oms.start()
        await allow_heavy_trading(oms)
        for cycle in range(KILLS):
            burst = asyncio.create_task(submit_all(oms, burst_requests(rng, cycle)))
            await asyncio.sleep(rng.uniform(0.05, 0.6))  # a random moment in the burst
            await oms.kill()
            await oms.start()
            acked |= await asyncio.wait_for(burst, 120)
        await finish_working_orders(oms)
        await eventually(market.exec_consumer_drained, timeout_s=30, message="reports consumed")
        assert await oms.terminate() == 0
    finally:
        await oms.kill()
        await oms.terminate()
    venue_children = {
        status.order_id
        for simulator in market.simulators.values()
        for status in simulator.engine.statuses(None)
    }
    fills_made = market.fills_made()
    await market.stop()

    facts = store_facts(tmp_path / "oms.db")
    log.info(
        "crash burst: %d kills, %d orders acknowledged, %d stored, %d children at venues, "
        "%d fills made at venues, %d stored",
        KILLS, len(acked), len(facts["orders"]), len(venue_children), fills_made, facts["fills"],
    )  # fmt: skip
    assert facts["integrity"] == "ok"
    assert facts["duplicate_execs"] == 0
    orders = facts["orders"]
    assert set(acked.values()) <= set(orders)  # every acknowledged order is stored
    legal = {state.value for state in TERMINAL_STATES}
    for state, quantity, cum in orders.values():  # type: ignore[union-attr]
        assert state in legal and Decimal(0) <= cum <= quantity
    assert venue_children <= facts["children"]  # every child a venue knows is stored
    assert facts["fills"] == fills_made  # no venue fill missing or doubled
    assert facts["fill_qty"] == sum((o[2] for o in orders.values()), Decimal(0))  # type: ignore[union-attr]


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

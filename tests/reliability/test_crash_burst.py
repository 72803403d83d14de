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
from decimal import Decimal
from pathlib import Path

import pytest

from oms_server.domain.enums import TERMINAL_STATES
from tests.support.load import (
    allow_heavy_trading,
    burst_requests,
    finish_working_orders,
    store_facts,
    submit_all,
)
from tests.support.process import moving_market_and_oms_process
from tests.support.waiting import eventually
from venues.nats_runtime import EmbeddedNats

log = logging.getLogger(__name__)
KILLS = int(os.environ.get("CRASH_KILLS", "10"))
BURST = int(os.environ.get("CRASH_BURST", "200"))


@pytest.mark.timeout(120 + 30 * KILLS)
async def test_repeated_sigkill_during_bursts_loses_nothing(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    market, oms = await moving_market_and_oms_process(nats_server, tmp_path)
    rng = random.Random(2026)
    acked: dict[str, str] = {}
    try:
        await oms.start()
        await allow_heavy_trading(oms)
        for cycle in range(KILLS):
            burst = asyncio.create_task(submit_all(oms, burst_requests(rng, cycle, BURST)))
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

    facts = store_facts(oms.db_file)
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

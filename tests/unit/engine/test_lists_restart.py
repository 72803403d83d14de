"""A contingent list across a restart of the engine on a real SQLite journal: the rules
read finished members from the store, so a fill that races a cancel is still cut."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from oms_server.domain.child import ChildState, VenueExecType
from oms_server.domain.enums import OrderState
from oms_server.domain.lists import ContingencyType
from oms_server.engine.engine import OrderEngine
from oms_server.engine.hub import ReportHub
from oms_server.store.repository import Store
from tests.unit.engine.stubs import (
    ADMIN,
    FUNDS,
    INSTRUMENTS,
    ScriptedVenues,
    request,
    venue_report,
)

pytestmark = pytest.mark.timeout(60)


async def started(url: str, venues: ScriptedVenues) -> OrderEngine:
    engine = OrderEngine(await Store.open(url), INSTRUMENTS, ReportHub(), venues=venues)
    await engine.start()
    return engine


async def stopped(engine: OrderEngine) -> None:
    await engine.stop()
    await engine.store.close()  # type: ignore[attr-defined]


async def test_an_oco_leg_canceled_before_a_restart_is_still_capped_after_it(
    tmp_path: Path,
) -> None:
    """Buy 100 at 100.00 or 100 at 99.00: the first fills, the second is asked to
    cancel; the OMS restarts; the venue then reports the second's child filled (it
    traded before the cancel arrived): the OMS applies none of it, and the leg ends
    CANCELED with the OCO at 100 in all."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'oms.db'}"
    venues = ScriptedVenues()
    engine = await started(url, venues)
    await engine.create_account("A")
    await engine.deposit("A", FUNDS)
    legs = [request("a"), request("b", limit_price=Decimal("99.00"))]
    a, b = await engine.submit_list(ContingencyType.OCO, "oco", legs, ADMIN)
    (child_a,) = engine.commands.routing.live_children(engine.commands.live.working[a.order_id])
    (child_b,) = engine.commands.routing.live_children(engine.commands.live.working[b.order_id])
    await engine.apply_venue_reports(
        [venue_report(child_a, VenueExecType.TRADE, ChildState.FILLED, qty=100)]
    )
    assert (await engine.get_order(b.order_id)).state is OrderState.PENDING_CANCEL  # type: ignore[union-attr]
    await stopped(engine)

    engine = await started(url, venues)
    try:
        assert len(engine.commands.lists) == 1  # the list is back, its filled leg with it
        late = venue_report(
            child_b, VenueExecType.TRADE, ChildState.FILLED, qty=100, price=Decimal("99.00")
        )
        await engine.apply_venue_reports([late])
        leg_b = await engine.get_order(b.order_id)
        leg_a = await engine.get_order(a.order_id)
        assert leg_a is not None and leg_b is not None
        assert (leg_b.state, leg_b.cum_qty) == (OrderState.CANCELED, 0)
        assert leg_a.cum_qty + leg_b.cum_qty == 100
        assert engine.routing.refused_overfills == 1
        # the same list again, its legs now only in the store: the orders made first
        again = await engine.submit_list(ContingencyType.OCO, "oco", legs, ADMIN)
        assert [o.order_id for o in again] == [a.order_id, b.order_id]
    finally:
        await stopped(engine)

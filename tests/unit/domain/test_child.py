"""Child orders: the snapshots reconciliation takes of them."""

from __future__ import annotations

import copy
from decimal import Decimal

from oms_server.domain.child import ChildOrder, ChildState, VenueExecType, VenueReport
from oms_server.domain.enums import OrderType, Side, TimeInForce


def resting_child() -> ChildOrder:
    return ChildOrder(
        child_order_id="c-1",
        parent_order_id="p-1",
        account_id="acct",
        venue="XNAS",
        symbol="ACME",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.DAY,
        quantity=Decimal(10),
        limit_price=Decimal("100.00"),
        state=ChildState.NEW,
    )


def test_a_snapshot_is_equal_and_does_not_follow_later_fills() -> None:
    child = resting_child()
    snapshot = copy.copy(child)
    assert snapshot == child and snapshot is not child
    fill = VenueReport(
        venue="XNAS",
        exec_id="e-1",
        child_order_id="c-1",
        exec_type=VenueExecType.TRADE,
        status=ChildState.PARTIALLY_FILLED,
        last_qty=Decimal(4),
        last_price=Decimal("99.99"),
        cum_qty=Decimal(4),
        leaves_qty=Decimal(6),
    )
    assert child.apply(fill) is not None
    assert child.cum_qty == 4 and child.state is ChildState.PARTIALLY_FILLED
    assert snapshot.cum_qty == 0 and snapshot.state is ChildState.NEW
    assert snapshot.venue_cum_qty == 0

"""The live order index: working orders, recently finished ones, and who may act on them."""

from __future__ import annotations

from typing import Any

import pytest

from oms_server.domain.enums import OrderState
from oms_server.domain.errors import FailedPreconditionError, NotFoundError
from oms_server.domain.order import Order
from oms_server.engine.live_orders import LiveOrders
from tests.unit.engine.stubs import ADMIN, order, trader


def finished(order_id: str, **changes: Any) -> Order:
    return order(order_id, state=OrderState.CANCELED, **changes)


def test_working_orders_are_held_by_id() -> None:
    live = LiveOrders()
    o1, o2 = order("o1"), order("o2")
    live.add(o1)
    live.add(o2)
    assert "o1" in live and "o3" not in live
    assert live.get("o1") is o1
    assert list(live) == [o1, o2]
    assert live.get("o3") is None


def test_a_snapshot_is_a_copy_the_caller_may_keep() -> None:
    live = LiveOrders()
    live.add(order("o1"))
    snapshot = live.snapshot("o1")
    assert snapshot == live.get("o1") and snapshot is not live.get("o1")
    assert snapshot is not None
    snapshot.state = OrderState.FILLED
    held = live.get("o1")
    assert held is not None and held.state is OrderState.NEW
    assert live.snapshot("nope") is None


def test_a_retired_order_leaves_the_working_set_but_stays_readable() -> None:
    live = LiveOrders()
    o1 = finished("o1")
    live.add(o1)
    live.add(order("o2"))
    live.retire(o1)
    assert [o.order_id for o in live] == ["o2"]
    assert "o1" in live and live.get("o1") is o1
    assert live.known_ids() == ["o2", "o1"]  # working first, then recently finished
    with pytest.raises(FailedPreconditionError) as refused:
        live.working_for("o1", ADMIN)
    assert refused.value.reason == "ORDER_NOT_WORKING"
    assert "CANCELED" in refused.value.message


def test_an_unknown_order_is_not_found() -> None:
    with pytest.raises(NotFoundError) as refused:
        LiveOrders().working_for("o1", ADMIN)
    assert refused.value.reason == "ORDER_NOT_FOUND"


@pytest.mark.parametrize("retired", [False, True], ids=["working", "finished"])
def test_another_accounts_order_is_not_found_rather_than_refused(retired: bool) -> None:
    live = LiveOrders()
    o1 = order("o1", account_id="B", state=OrderState.CANCELED if retired else OrderState.NEW)
    live.add(o1)
    if retired:
        live.retire(o1)
    with pytest.raises(NotFoundError) as refused:  # it does not even say the order exists
        live.working_for("o1", trader("A"))
    assert refused.value.reason == "ORDER_NOT_FOUND"


def test_a_trader_acts_on_its_own_accounts_and_an_admin_on_every_one() -> None:
    live = LiveOrders()
    a1, b1 = order("a1"), order("b1", account_id="B")
    live.add(a1)
    live.add(b1)
    assert live.working_for("a1", trader("A")) is a1
    assert live.working_for("b1", trader("A", "B")) is b1
    assert live.working_for("b1", ADMIN) is b1


def test_only_so_many_finished_orders_are_kept() -> None:
    live = LiveOrders(recent_kept=2)
    for order_id in ("o1", "o2", "o3"):
        o = finished(order_id)
        live.add(o)
        live.retire(o)
    assert live.known_ids() == ["o2", "o3"]  # the oldest is read from the store again
    assert live.get("o1") is None and "o1" not in live
    with pytest.raises(NotFoundError):
        live.working_for("o1", ADMIN)


def test_retiring_an_order_again_keeps_one_entry() -> None:
    live = LiveOrders(recent_kept=2)
    o1 = finished("o1")
    live.retire(o1)
    live.retire(o1)
    assert live.known_ids() == ["o1"]


def test_states_count_the_working_orders() -> None:
    live = LiveOrders()
    live.add(order("o1"))
    live.add(order("o2"))
    live.add(order("o3", state=OrderState.PARTIALLY_FILLED))
    o4 = finished("o4")
    live.add(o4)
    live.retire(o4)
    assert live.states() == {"NEW": 2, "PARTIALLY_FILLED": 1}

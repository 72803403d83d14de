"""The live order index: working orders, and recently finished ones for fast reads.

Working orders are the engine's state; a finished order moves to a bounded recent set
once its final change is committed, and older ones are read from the store.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Iterator

from oms_server.domain.access import Principal
from oms_server.domain.errors import FailedPreconditionError, NotFoundError
from oms_server.domain.order import Order

#: Terminal orders kept in memory for fast reads after they leave the working set
#: (older ones are read from the store; 20,000 held about 40 MB under load).
RECENT_ORDERS_KEPT = 2_000


class LiveOrders:
    """Working orders by id, and the most recently finished ones."""

    def __init__(self, recent_kept: int | None = None) -> None:
        #: Working orders by id: routing reads and changes these in place.
        self.working: dict[str, Order] = {}
        self._recent: OrderedDict[str, Order] = OrderedDict()
        self._recent_kept = RECENT_ORDERS_KEPT if recent_kept is None else recent_kept

    def __contains__(self, order_id: object) -> bool:
        return order_id in self.working or order_id in self._recent

    def __iter__(self) -> Iterator[Order]:
        """Every working order."""
        return iter(self.working.values())

    def add(self, order: Order) -> None:
        self.working[order.order_id] = order

    def get(self, order_id: str) -> Order | None:
        """A working or recently finished order (the live object), if in memory."""
        return self.working.get(order_id) or self._recent.get(order_id)

    def snapshot(self, order_id: str) -> Order | None:
        """A copy of a working or recently finished order, if in memory."""
        order = self.get(order_id)
        return copy.copy(order) if order is not None else None

    def known_ids(self) -> list[str]:
        """The ids of every order held: working, then recently finished."""
        return [*self.working, *self._recent]

    def working_for(self, order_id: str, principal: Principal) -> Order:
        """The working order ``principal`` may act on; NOT_FOUND or ORDER_NOT_WORKING."""
        order = self.working.get(order_id)
        if order is not None and principal.can_act_for(order.account_id):
            return order
        finished = self._recent.get(order_id)
        if finished is not None and principal.can_act_for(finished.account_id):
            raise FailedPreconditionError(
                f"order {order_id} is {finished.state.value}", reason="ORDER_NOT_WORKING"
            )
        raise NotFoundError(f"order {order_id} not found", reason="ORDER_NOT_FOUND")

    def retire(self, order: Order) -> None:
        """Move a finished order from the working set to the recent ones."""
        self.working.pop(order.order_id, None)
        self._recent[order.order_id] = order
        while len(self._recent) > self._recent_kept:
            self._recent.popitem(last=False)

    def states(self) -> dict[str, int]:
        """Number of working orders per state."""
        counts: dict[str, int] = {}
        for order in self.working.values():
            counts[order.state.value] = counts.get(order.state.value, 0) + 1
        return counts

"""The contingent lists of the engine: their members, and which lists changed.

``ListBook`` holds the members of every list with a working member (finished members
too: the rules read their fills) and notes the lists whose members changed in the
current batch; the commands settle those before the batch is sealed, so a list's rule
commits with the change that set it off. The rules are ``oms_server.domain.lists``.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from oms_server.domain.enums import OrderState
from oms_server.domain.lists import fill_room
from oms_server.domain.order import Order


class ListBook:
    """Members by list id, and the lists changed since they were last settled."""

    def __init__(self) -> None:
        self._members: dict[str, list[Order]] = {}
        self._changed: dict[str, None] = {}

    def load(self, members: Iterable[Order]) -> None:
        """At start-up: the stored members of the lists with a working member (the live
        objects for working ones; a replaced one gives way to the order replacing it);
        every list is settled once (a rule and what set it off commit together, so this
        finds nothing to do)."""
        for order in members:
            if order.state is OrderState.REPLACED:
                continue  # the order replacing it is a member too, with its fills
            self._members.setdefault(order.list_id, []).append(order)
            self._changed[order.list_id] = None

    def add(self, list_id: str, members: list[Order]) -> None:
        self._members[list_id] = members
        self._changed[list_id] = None

    def __len__(self) -> int:
        return len(self._members)

    def members(self, list_id: str) -> list[Order]:
        return self._members.get(list_id, [])

    def note(self, order: Order) -> None:
        """``order`` changed: its list is settled before the batch ends; a replaced member
        hands its place to the order replacing it."""
        members = self._members.get(order.list_id)
        if members is None:
            return
        self._changed[order.list_id] = None

    def adopt(self, old: Order, new: Order) -> None:
        """``new`` replaces list member ``old``."""
        members = self._members.get(old.list_id)
        if members is None:
            return
        self._members[old.list_id] = [new if m is old else m for m in members]
        self._changed[old.list_id] = None

    def room(self, order: Order) -> Decimal:
        """The most ``order`` may fill now (its open quantity for an order of no list)."""
        members = self._members.get(order.list_id) if order.list_id else None
        if not members:
            return order.open_qty
        return fill_room(order, members)

    def changed_pending(self) -> bool:
        """True while some list changed since its rules last ran."""
        return bool(self._changed)

    def take_changed(self) -> list[str]:
        """The lists changed since the last call; finished lists are forgotten."""
        changed, self._changed = list(self._changed), {}
        for list_id in changed:
            members = self._members.get(list_id, [])
            if members and all(m.is_terminal for m in members):
                self._members.pop(list_id, None)
        return changed


def held(order: Order) -> bool:
    """True for a list member waiting for its list to release it."""
    return bool(order.list_id) and order.state is OrderState.PENDING_NEW

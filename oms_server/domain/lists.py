"""Contingent order lists (issue 21): OCO, OTO and BRACKET, as rules over their members.

A list is orders submitted together, each an ordinary order with its own id, reports and
audit trail, tied by ``Order.list_id`` and a ``ListRole`` each. Members a list holds back
(an OTO's followers, a BRACKET's exits) are stored PENDING_NEW: accepted by risk, not
yet acknowledged or routed. The rules:

- OCO: the first fill (part or whole) of any leg cancels the other legs; together the
  legs never fill more than the largest leg's quantity, even when fills race cancels.
- OTO: the first fill of the primary releases the others; a primary that ends unfilled
  cancels them.
- BRACKET: the entry's first fill releases the take profit and the stop loss, sized to
  what the entry filled, and later entry fills grow them; they are an OCO between them
  (never filling more than the entry filled). The first exit fill cancels the other exit
  and the entry's unfilled rest (the trade is being closed). An entry that ends unfilled
  cancels both exits.

``actions`` says what a list's members' states call for; the engine runs it in the batch
that changed them, so a rule and the fill that set it off commit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from oms_server.domain.decimals import ZERO, fmt
from oms_server.domain.enums import OrderState, OrderType
from oms_server.domain.errors import ValidationError
from oms_server.domain.order import Order, OrderRequest

__all__ = [
    "ContingencyType",
    "ListActions",
    "ListRole",
    "actions",
    "check_list",
    "fill_room",
    "roles_of",
]

#: Most members a list may have (an OCO or OTO of more is refused).
MAX_LIST_ORDERS = 10


class ContingencyType(StrEnum):
    OCO = "OCO"
    OTO = "OTO"
    BRACKET = "BRACKET"


class ListRole(StrEnum):
    """What a member is to its list (stored with the order, so a restart knows it)."""

    OCO_LEG = "OCO_LEG"
    OTO_PRIMARY = "OTO_PRIMARY"
    OTO_SECONDARY = "OTO_SECONDARY"
    BRACKET_ENTRY = "BRACKET_ENTRY"
    TAKE_PROFIT = "TAKE_PROFIT"
    STOP_LOSS = "STOP_LOSS"

    @property
    def held(self) -> bool:
        """True for a member stored PENDING_NEW until its list releases it."""
        return self in _HELD

    @property
    def contingency(self) -> ContingencyType:
        return _CONTINGENCY[self]

    @property
    def is_exit(self) -> bool:
        return self in (ListRole.TAKE_PROFIT, ListRole.STOP_LOSS)


_HELD = frozenset({ListRole.OTO_SECONDARY, ListRole.TAKE_PROFIT, ListRole.STOP_LOSS})
_CONTINGENCY = {
    ListRole.OCO_LEG: ContingencyType.OCO,
    ListRole.OTO_PRIMARY: ContingencyType.OTO,
    ListRole.OTO_SECONDARY: ContingencyType.OTO,
    ListRole.BRACKET_ENTRY: ContingencyType.BRACKET,
    ListRole.TAKE_PROFIT: ContingencyType.BRACKET,
    ListRole.STOP_LOSS: ContingencyType.BRACKET,
}
#: Order types a BRACKET's stop loss may be (it waits for the market to move against).
_STOP_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP})


def roles_of(contingency: ContingencyType, count: int) -> list[ListRole]:
    """The role of each of ``count`` members, in the order they were submitted."""
    if contingency is ContingencyType.OCO:
        return [ListRole.OCO_LEG] * count
    if contingency is ContingencyType.OTO:
        return [ListRole.OTO_PRIMARY] + [ListRole.OTO_SECONDARY] * (count - 1)
    return [ListRole.BRACKET_ENTRY, ListRole.TAKE_PROFIT, ListRole.STOP_LOSS][:count]


def check_list(
    contingency: ContingencyType, list_client_id: str, requests: Sequence[OrderRequest]
) -> None:
    """Refuse a list its rules cannot hold: ValidationError naming the field
    (``orders[1].symbol``, say)."""
    if not list_client_id:
        raise ValidationError("list_client_id", "is required")
    count = len(requests)
    if contingency is ContingencyType.BRACKET and count != 3:
        raise ValidationError(
            "orders", f"a BRACKET is 3 orders (entry, take profit, stop loss), not {count}"
        )
    if not 2 <= count <= MAX_LIST_ORDERS:
        raise ValidationError(
            "orders", f"a {contingency.value} list has 2 to {MAX_LIST_ORDERS} orders, not {count}"
        )
    first = requests[0]
    keys = set()
    for i, request in enumerate(requests):
        if request.account_id != first.account_id:
            raise ValidationError(
                f"orders[{i}].account_id", f"differs from orders[0]'s ({first.account_id})"
            )
        if request.symbol != first.symbol:
            raise ValidationError(
                f"orders[{i}].symbol", f"differs from orders[0]'s ({first.symbol})"
            )
        if request.client_order_id in keys:
            raise ValidationError(f"orders[{i}].client_order_id", "is used twice in the list")
        keys.add(request.client_order_id)
    if contingency is ContingencyType.BRACKET:
        _check_bracket(requests)


def _check_bracket(requests: Sequence[OrderRequest]) -> None:
    entry, take_profit, stop_loss = requests
    for i, exit_ in ((1, take_profit), (2, stop_loss)):
        if exit_.side is entry.side:
            raise ValidationError(
                f"orders[{i}].side", f"an exit is on the other side from the entry ({entry.side})"
            )
        if exit_.quantity != entry.quantity:
            raise ValidationError(
                f"orders[{i}].quantity",
                f"an exit's quantity is the entry's ({fmt(entry.quantity)}); it is sized to "
                "what the entry fills",
            )
    if take_profit.order_type is not OrderType.LIMIT:
        raise ValidationError("orders[1].order_type", "the take profit is a LIMIT order")
    if stop_loss.order_type not in _STOP_TYPES:
        raise ValidationError(
            "orders[2].order_type", "the stop loss is a STOP, STOP_LIMIT or TRAILING_STOP order"
        )


@dataclass(slots=True)
class ListActions:
    """What a list's rules call for now: each a member's order id (and a size)."""

    #: Held members to acknowledge and route, with the quantity they work (None: theirs).
    release: list[tuple[str, Decimal | None]] = field(default_factory=list)
    #: Working members to cancel, with why.
    cancel: list[tuple[str, str]] = field(default_factory=list)
    #: Released exits to grow to a new quantity (the entry filled more).
    resize: list[tuple[str, Decimal]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.release or self.cancel or self.resize)


def fill_room(member: Order, members: Sequence[Order]) -> Decimal:
    """The most ``member`` may still fill: its open quantity, less for an OCO leg (what
    the largest leg leaves after every leg's fills) or a BRACKET exit (what the entry
    filled less what the exits filled)."""
    role = ListRole(member.list_role) if member.list_role else None
    room = member.open_qty
    if role is ListRole.OCO_LEG:
        total = max(m.quantity for m in members)
        room = min(room, total - sum((m.cum_qty for m in members), ZERO))
    elif role is not None and role.is_exit:
        entry = _one(members, ListRole.BRACKET_ENTRY)
        exits = _exits(members)
        filled = sum((m.cum_qty for m in exits), ZERO)
        room = min(room, (entry.cum_qty if entry else ZERO) - filled)
    return max(room, ZERO)


def actions(members: Sequence[Order]) -> ListActions:
    """What the members' present states call for (nothing once they have been acted on:
    released members are no longer held, canceled ones no longer working)."""
    if not members:
        return ListActions()
    contingency = ListRole(members[0].list_role).contingency
    if contingency is ContingencyType.OCO:
        return _oco(members, "OCO")
    if contingency is ContingencyType.OTO:
        return _oto(members)
    return _bracket(members)


def _oco(legs: Sequence[Order], name: str) -> ListActions:
    todo = ListActions()
    filled = [leg for leg in legs if leg.cum_qty > ZERO]
    if not filled:
        return todo
    kept = max(filled, key=lambda leg: leg.cum_qty)  # the first of the largest (a race)
    why = f"{name}: order {kept.order_id} filled"
    todo.cancel.extend((leg.order_id, why) for leg in legs if leg is not kept and _cancelable(leg))
    return todo


def _oto(members: Sequence[Order]) -> ListActions:
    todo = ListActions()
    primary = _one(members, ListRole.OTO_PRIMARY)
    if primary is None:
        return todo
    followers = [m for m in members if m.list_role == ListRole.OTO_SECONDARY]
    if primary.cum_qty > ZERO:
        todo.release.extend((m.order_id, None) for m in followers if _held(m))
    elif primary.is_terminal:
        why = f"OTO: order {primary.order_id} ended unfilled ({primary.state.value})"
        todo.cancel.extend((m.order_id, why) for m in followers if _cancelable(m))
    return todo


def _bracket(members: Sequence[Order]) -> ListActions:
    entry = _one(members, ListRole.BRACKET_ENTRY)
    exits = _exits(members)
    if entry is None:
        return ListActions()
    if entry.cum_qty == ZERO:
        todo = ListActions()
        if entry.is_terminal:
            why = f"BRACKET: entry {entry.order_id} ended unfilled ({entry.state.value})"
            todo.cancel.extend((m.order_id, why) for m in exits if _cancelable(m))
        return todo
    exited = [m for m in exits if m.cum_qty > ZERO]
    if exited:
        todo = _oco(exits, "BRACKET")
        if _cancelable(entry) and not entry.state.is_terminal:
            todo.cancel.append(
                (entry.order_id, f"BRACKET: exit {exited[0].order_id} filled, entry rest canceled")
            )
        return todo
    todo = ListActions()
    for m in exits:
        if _held(m):
            todo.release.append((m.order_id, entry.cum_qty))
        elif _growable(m) and m.quantity < entry.cum_qty:
            todo.resize.append((m.order_id, entry.cum_qty))
    return todo


def _one(members: Sequence[Order], role: ListRole) -> Order | None:
    return next((m for m in members if m.list_role == role), None)


def _exits(members: Sequence[Order]) -> list[Order]:
    return [m for m in members if m.list_role in (ListRole.TAKE_PROFIT, ListRole.STOP_LOSS)]


def _held(order: Order) -> bool:
    return order.state is OrderState.PENDING_NEW


def _cancelable(order: Order) -> bool:
    """Working and not already being canceled (a pending replace ends by itself)."""
    return order.state in (OrderState.PENDING_NEW, OrderState.NEW, OrderState.PARTIALLY_FILLED)


def _growable(order: Order) -> bool:
    return order.state in (OrderState.NEW, OrderState.PARTIALLY_FILLED)

"""The order state machine, written once as a transition table.

NEW -> REJECTED exists because the OMS acknowledges an order (NEW) before venues
see it; when every venue refuses it and nothing filled, the order ends REJECTED.

Expiry (a DAY order at the session close, a GTD order at its expire time) is EXPIRE:
straight from a working state when nothing of the order is live at a venue, else from
PENDING_CANCEL once the children the OMS asked to cancel are done (a late fill is
applied first: PENDING_CANCEL takes fills).

The table maps (current state, trigger) to the next state. ``RESUME`` stands for
"the working state the order's fills imply": NEW with nothing filled, otherwise
PARTIALLY_FILLED. Anything not in the table is illegal and refused.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Final

from oms_server.domain.enums import OrderState
from oms_server.domain.errors import IllegalTransitionError


class Trigger(StrEnum):
    """What happens to an order."""

    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    PARTIAL_FILL = "PARTIAL_FILL"
    FILL = "FILL"
    CANCEL_REQUEST = "CANCEL_REQUEST"
    CANCEL_ACCEPT = "CANCEL_ACCEPT"
    CANCEL_REJECT = "CANCEL_REJECT"
    REPLACE_REQUEST = "REPLACE_REQUEST"
    REPLACE_ACCEPT = "REPLACE_ACCEPT"
    REPLACE_REJECT = "REPLACE_REJECT"
    EXPIRE = "EXPIRE"


class _Resume:
    """Sentinel target: back to NEW or PARTIALLY_FILLED, whichever the fills imply."""

    def __repr__(self) -> str:
        return "RESUME"


RESUME: Final = _Resume()

S = OrderState
T = Trigger

TRANSITIONS: Final[dict[tuple[OrderState, Trigger], OrderState | _Resume]] = {
    (S.PENDING_NEW, T.ACCEPT): S.NEW,
    (S.PENDING_NEW, T.REJECT): S.REJECTED,
    (S.PENDING_NEW, T.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.PENDING_NEW, T.FILL): S.FILLED,
    (S.PENDING_NEW, T.CANCEL_REQUEST): S.PENDING_CANCEL,
    (S.PENDING_NEW, T.EXPIRE): S.EXPIRED,
    (S.NEW, T.REJECT): S.REJECTED,
    (S.NEW, T.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.NEW, T.FILL): S.FILLED,
    (S.NEW, T.CANCEL_REQUEST): S.PENDING_CANCEL,
    (S.NEW, T.CANCEL_ACCEPT): S.CANCELED,
    (S.NEW, T.REPLACE_REQUEST): S.PENDING_REPLACE,
    (S.NEW, T.EXPIRE): S.EXPIRED,
    (S.PARTIALLY_FILLED, T.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, T.FILL): S.FILLED,
    (S.PARTIALLY_FILLED, T.CANCEL_REQUEST): S.PENDING_CANCEL,
    (S.PARTIALLY_FILLED, T.CANCEL_ACCEPT): S.CANCELED,
    (S.PARTIALLY_FILLED, T.REPLACE_REQUEST): S.PENDING_REPLACE,
    (S.PARTIALLY_FILLED, T.EXPIRE): S.EXPIRED,
    (S.PENDING_CANCEL, T.PARTIAL_FILL): S.PENDING_CANCEL,
    (S.PENDING_CANCEL, T.FILL): S.FILLED,
    (S.PENDING_CANCEL, T.CANCEL_ACCEPT): S.CANCELED,
    (S.PENDING_CANCEL, T.CANCEL_REJECT): RESUME,
    (S.PENDING_CANCEL, T.EXPIRE): S.EXPIRED,
    (S.PENDING_REPLACE, T.PARTIAL_FILL): S.PENDING_REPLACE,
    (S.PENDING_REPLACE, T.FILL): S.FILLED,
    (S.PENDING_REPLACE, T.REPLACE_ACCEPT): S.REPLACED,
    (S.PENDING_REPLACE, T.REPLACE_REJECT): RESUME,
    (S.PENDING_REPLACE, T.CANCEL_ACCEPT): S.CANCELED,
    (S.PENDING_REPLACE, T.EXPIRE): S.EXPIRED,
}


def next_state(state: OrderState, trigger: Trigger, cum_qty: Decimal) -> OrderState:
    """The state an order in ``state`` moves to on ``trigger``.

    Raises IllegalTransitionError when the table has no such transition.
    """
    target = TRANSITIONS.get((state, trigger))
    if target is None:
        raise IllegalTransitionError(
            f"an order in state {state.value} cannot take {trigger.value}",
            reason=_refusal_reason(state, trigger),
        )
    if isinstance(target, _Resume):
        return S.NEW if cum_qty == 0 else S.PARTIALLY_FILLED
    return target


def is_legal(state: OrderState, trigger: Trigger) -> bool:
    """True when the table allows ``trigger`` in ``state``."""
    return (state, trigger) in TRANSITIONS


def _refusal_reason(state: OrderState, trigger: Trigger) -> str:
    if trigger is T.CANCEL_REQUEST:
        return "ORDER_NOT_CANCELABLE"
    if trigger is T.REPLACE_REQUEST:
        return "ORDER_NOT_REPLACEABLE"
    return "ILLEGAL_TRANSITION"

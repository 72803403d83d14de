"""Reconciliation policy: what the engine does with what a venue says of its children.

The venue connector asks venues for the status of children left unanswered and hands
the answers here (``ExecutionSink.reconcile``); the decisions are the engine's:

- a child the venue never saw is sent again, and after ``max_resends`` it ends
  rejected (a timeout alone never decides an outcome: only the venue's "unknown");
- a cancel asked for long ago while the venue still works the order was lost on the
  way, and is sent again;
- fills and a final state the venue knows and the engine does not are applied as
  reports (deduplicated like any other report).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from oms_server.domain.child import (
    ChildOrder,
    ChildState,
    VenueExecType,
    VenueOrderStatus,
    VenueReport,
)
from oms_server.domain.decimals import fmt

#: Seconds a child may wait for its venue before it is reconciled.
DEFAULT_ACK_TIMEOUT_S = 2.0
#: Resends of a child the venue says it never saw, before it is ended as rejected.
MAX_RESENDS = 2
#: The exec type of the report a reconciled order status stands for (others: NEW).
_EXEC_TYPE_OF_STATUS: Mapping[ChildState, VenueExecType] = MappingProxyType(
    {
        ChildState.CANCELED: VenueExecType.CANCELED,
        ChildState.REJECTED: VenueExecType.REJECTED,
        ChildState.EXPIRED: VenueExecType.EXPIRED,
    }
)


@dataclass(frozen=True, slots=True)
class ReconcilePolicy:
    """When a child counts as unanswered, and how often an unseen one is resent."""

    ack_timeout_ns: int = int(DEFAULT_ACK_TIMEOUT_S * 1e9)
    max_resends: int = MAX_RESENDS


@dataclass(slots=True)
class ReconcileStats:
    resent_orders: int = 0
    resent_cancels: int = 0
    given_up: int = 0


def unseen_action(child: ChildOrder, policy: ReconcilePolicy) -> str:
    """What to do with a child its venue does not know: "resend", "give_up" or "wait".

    A child whose cancel was asked for is never sent again: the client no longer wants
    it, so it ends at once.
    """
    if child.state is not ChildState.PENDING_NEW:
        return "wait"  # acknowledged meanwhile: a later report or status settles it
    if child.cancel_requested or child.resends >= policy.max_resends:
        return "give_up"
    return "resend"


def cancel_was_lost(
    child: ChildOrder, status: VenueOrderStatus, now_ns: int, policy: ReconcilePolicy
) -> bool:
    """A cancel asked for long ago while the venue still works the order: it never
    arrived (orders and cancels travel on core NATS), so it is sent again."""
    waited_out = child.updated_ns < now_ns - policy.ack_timeout_ns
    return child.cancel_requested and waited_out and not status.state.is_final


def reports_from_status(
    venue: str, child: ChildOrder, status: VenueOrderStatus, now_ns: int
) -> list[VenueReport]:
    """The reports that bring ``child`` to what its venue says (none if nothing is new)."""
    if status.state is child.state and status.cum_qty == child.cum_qty:
        return []
    return [
        *status.fills,
        VenueReport(
            venue=venue,
            exec_id=f"status:{status.child_order_id}:{status.state.value}:{fmt(status.cum_qty)}",
            child_order_id=status.child_order_id,
            exec_type=_EXEC_TYPE_OF_STATUS.get(status.state, VenueExecType.NEW),
            status=status.state,
            cum_qty=status.cum_qty,
            leaves_qty=status.leaves_qty,
            text="reconciled with venue order status",
            transact_ns=now_ns,
        ),
    ]

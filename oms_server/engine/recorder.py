"""The batch recorder: what the commands of the current batch changed, until it commits.

Every component that changes state inside the writer records it here: dirty orders
and children, execution reports (each with the account's next sequence number),
applied venue reports, account and halt changes, and work to run once the batch is
durable (venue messages, for one). The writer seals the batch, commits it, and then
hands the recorded reports and callbacks on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

from opentelemetry import context as otel_context

from oms_server.domain.accounts import Account
from oms_server.domain.child import ChildOrder, VenueReport
from oms_server.domain.decimals import ZERO
from oms_server.domain.enums import ExecType
from oms_server.domain.order import Order
from oms_server.domain.reports import ExecutionReport
from oms_server.engine.ports import AppliedReport, ChangeSet, Halt
from oms_server.telemetry import tracing_enabled

_T = TypeVar("_T")


@dataclass(slots=True)
class Batch:
    """One batch's changes and what to do once they are committed."""

    changes: ChangeSet = field(default_factory=ChangeSet)
    after_commit: list[Callable[[], None]] = field(default_factory=list)


class BatchRecorder:
    """Records the changes of the batch being executed; ``seal`` closes it."""

    def __init__(self, clock: Callable[[], int], sequences: dict[str, int] | None = None) -> None:
        self._clock = clock
        self._batch = Batch()
        #: The last sequence number given per account.
        self.sequences: dict[str, int] = sequences if sequences is not None else {}
        #: Called with every order a report changed (account reservations follow it).
        self.on_order_changed: Callable[[Order], None] = _nothing

    def seal(self) -> Batch:
        """Close the current batch and start the next."""
        batch, self._batch = self._batch, Batch()
        return batch

    # -- orders and children ------------------------------------------------------------

    def touch_order(self, order: Order, *, is_new: bool = False) -> None:
        """Mark ``order`` for the next commit (a row new in this batch stays new)."""
        _mark(self._batch.changes.orders, order.order_id, order, is_new)

    def touch_child(self, child: ChildOrder, *, is_new: bool = False) -> None:
        _mark(self._batch.changes.children, child.child_order_id, child, is_new)

    def report(
        self,
        order: Order,
        exec_type: ExecType,
        *,
        last_qty: Decimal = ZERO,
        last_price: Decimal = ZERO,
        last_venue: str = "",
        text: str = "",
    ) -> ExecutionReport:
        """Append an event for the order's current state and mark the order dirty."""
        now = self._clock()
        sequence = self.sequences.get(order.account_id, 0) + 1
        self.sequences[order.account_id] = sequence
        order.version += 1
        order.updated_ns = now
        report = order.report(
            sequence,
            exec_type,
            now,
            last_qty=last_qty,
            last_price=last_price,
            last_venue=last_venue,
            text=text,
        )
        self._batch.changes.events.append(report)
        self.touch_order(order)
        self.on_order_changed(order)
        return report

    def record_execution(
        self, report: VenueReport, parent_order_id: str, fill_exec_id: str = ""
    ) -> None:
        """Journal an applied venue report (the fills ledger and the dedupe key); a fill
        names the exec id of the parent's TRADE report it made."""
        self._batch.changes.executions.append(AppliedReport(report, parent_order_id, fill_exec_id))

    # -- accounts and halts -------------------------------------------------------------

    def touch_account(self, account: Account, *, now_ns: int, is_new: bool = False) -> None:
        """Mark ``account`` (its cash, state and limits) for the next commit."""
        accounts = self._batch.changes.accounts
        previous = accounts.get(account.account_id)
        was_new = previous is not None and previous[1]
        accounts[account.account_id] = (account, is_new or was_new, now_ns)

    def touch_position(self, account: Account, symbol: str, *, is_new: bool) -> None:
        key = (account.account_id, symbol)
        previous = self._batch.changes.positions.get(key)
        was_new = previous is not None and previous[1]
        self._batch.changes.positions[key] = (account, is_new or was_new)

    def set_halt(self, halt: Halt, *, is_new: bool) -> None:
        previous = self._batch.changes.halts.get(halt.scope)
        was_new = previous is not None and previous[1]
        self._batch.changes.halts[halt.scope] = (halt, is_new or was_new)

    def clear_halt(self, scope: str) -> None:
        changes = self._batch.changes
        set_in_this_batch = changes.halts.pop(scope, None)
        if set_in_this_batch is None or not set_in_this_batch[1]:
            changes.resumed.add(scope)  # a stored halt: delete its row

    # -- after the commit ---------------------------------------------------------------

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the current batch is durable, in the current trace."""
        if not tracing_enabled():
            self._batch.after_commit.append(callback)
            return
        trace_context = otel_context.get_current()

        def traced() -> None:
            token = otel_context.attach(trace_context)
            try:
                callback()
            finally:
                otel_context.detach(token)

        self._batch.after_commit.append(traced)

    def now_ns(self) -> int:
        return self._clock()


def _mark(dirty: dict[str, tuple[_T, bool]], key: str, value: _T, is_new: bool) -> None:
    previous = dirty.get(key)
    dirty[key] = (value, is_new or (previous is not None and previous[1]))


def _nothing(order: Order) -> None:
    return None

"""The engine's command handlers: synchronous, run inside the writer, one per command.

Each validates before it changes anything, changes live state through the components
(live orders, idempotency, the risk gate, routing, the replace workflow, accounts)
and records what changed in the batch recorder. Nothing here awaits: the async facade
(``OrderEngine``) queues these on the single writer; tests call them directly and
finish a batch with ``seal`` and ``committed``.
"""

from __future__ import annotations

import copy
import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from oms_server.domain.access import Principal
from oms_server.domain.accounts import Account, RiskLimits
from oms_server.domain.child import ChildOrder, VenueOrderStatus, VenueReport
from oms_server.domain.decimals import ZERO, fmt
from oms_server.domain.duplicates import retried_submit
from oms_server.domain.enums import ExecType, OrderState, Side
from oms_server.domain.errors import AlreadyExistsError
from oms_server.domain.instruments import Instrument
from oms_server.domain.lists import (
    ContingencyType,
    ListActions,
    ListRole,
    actions,
    check_list,
    roles_of,
)
from oms_server.domain.order import Order, OrderRequest
from oms_server.domain.order_ids import OrderIds
from oms_server.domain.session import TradingSession
from oms_server.domain.state_machine import Trigger
from oms_server.engine import reconciliation
from oms_server.engine.accounts import AccountBook
from oms_server.engine.client_ids import Key
from oms_server.engine.expiry import Expiry
from oms_server.engine.hub import ReportHub
from oms_server.engine.idempotency import Idempotency, KeyCheck, NeedsStoreRead
from oms_server.engine.lists import ListBook
from oms_server.engine.live_orders import LiveOrders
from oms_server.engine.no_venues import NoVenueRouting
from oms_server.engine.ports import VenuePort
from oms_server.engine.reconciliation import ReconcilePolicy, ReconcileStats
from oms_server.engine.recorder import Batch, BatchRecorder
from oms_server.engine.replace import ReplaceWorkflow
from oms_server.engine.risk_gate import ALL_ACCOUNTS, RiskGate
from oms_server.engine.routing import ParentRouting, Routing

log = logging.getLogger(__name__)

#: Rounds of list rules one batch runs at most (a rule's change may set off another's:
#: a fill cancels a leg, whose end settles the list again).
MAX_LIST_ROUNDS = 8


@dataclass(slots=True)
class CommandStats:
    """Counters read by the metrics endpoint."""

    accepted: int = 0
    fills: int = 0
    #: Store reads for idempotency keys no longer held exactly in memory.
    key_lookups: int = 0
    routing_seconds: float = 0.0


class OrderCommands:
    """The engine's state and the commands that change it."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        hub: ReportHub,
        *,
        venues: VenuePort | None = None,
        clock: Callable[[], int] = time.time_ns,
        policy: ReconcilePolicy | None = None,
        session: TradingSession | None = None,
        order_id_prefix: str | None = None,
    ) -> None:
        self.instruments = dict(instruments)
        self.hub = hub
        self.clock = clock
        self.policy = policy or ReconcilePolicy()
        self.stats = CommandStats()
        self.reconcile_stats = ReconcileStats()
        self.recorder = BatchRecorder(clock)
        self.live = LiveOrders()
        self.keys = Idempotency(self.live)
        self.accounts = AccountBook(self.recorder, _largest_taker_fee_bps(venues))
        self.expiry = Expiry(session or TradingSession(), self.live.working, self.recorder)
        self.recorder.on_order_changed = self._on_order_changed
        self.lists = ListBook()
        self.risk = RiskGate(self.accounts, self.recorder)
        self.venues = venues
        self.routing: Routing = (
            ParentRouting(
                venues,
                self.instruments,
                self.live.working,
                self.recorder,
                self._on_fill,
                gate=self.expiry,
                fill_room=self.lists.room,
            )
            if venues is not None
            else NoVenueRouting(self.instruments)
        )
        self.replaces = ReplaceWorkflow(
            self.live,
            self.keys,
            self.recorder,
            self.routing,
            self.risk,
            self._new_order_id,
            self.cancel,
        )
        self._order_ids = OrderIds(order_id_prefix)

    # -- a batch's end ------------------------------------------------------------------

    def seal(self) -> Batch:
        """Close the batch the commands so far recorded, after the rules of the lists
        they changed ran (so a rule commits with what set it off)."""
        self._settle_lists()
        return self.recorder.seal()

    def committed(self, batch: Batch) -> None:
        """After ``batch`` is durable: publish its reports, retire finished orders, and
        let its venue messages leave."""
        self.hub.publish(batch.changes.events)
        for order, _ in batch.changes.orders.values():
            if order.is_terminal:
                self.live.retire(order)
        for callback in batch.after_commit:
            try:
                callback()
            except Exception:  # the batch is stored: one failed send must not stop the engine
                log.exception("after-commit work failed (the batch is committed)")

    # -- orders -------------------------------------------------------------------------

    def submit(
        self, request: OrderRequest, principal: Principal, checked: KeyCheck | None = None
    ) -> Order:
        """Accept a validated order, or return the original for a known client_order_id."""
        existing = self.keys.existing_submit(request, checked)
        if existing is not None:
            return existing
        now = self.clock()
        request.check_lifetime(now)
        self.routing.check(request)
        self.expiry.admit(request, now)
        basis = self.risk.admit(request, self.routing.reference_price(request.symbol), now)
        order = Order.from_request(
            self._new_order_id(now), request, sender=principal.subject, now_ns=now
        )
        order.reserve_price = basis.reservation_price
        self.keys.add((request.account_id, request.client_order_id), order.order_id)
        self.live.add(order)
        self.recorder.touch_order(order, is_new=True)
        order.apply(Trigger.ACCEPT)
        self.recorder.report(order, ExecType.NEW)
        self.stats.accepted += 1
        started = time.perf_counter()
        self.routing.on_accepted(order)
        self.stats.routing_seconds += time.perf_counter() - started
        return copy.copy(order)

    def submit_list(
        self,
        contingency: ContingencyType,
        list_client_id: str,
        requests: list[OrderRequest],
        principal: Principal,
        checked: Mapping[Key, KeyCheck] | None = None,
    ) -> list[Order]:
        """Accept a contingent list (each member checked, risk included, before any is
        stored); members it holds are stored PENDING_NEW. A retried list (the same
        client_order_ids) returns the members made first."""
        check_list(contingency, list_client_id, requests)
        existing = self._existing_list(requests, checked or {})
        if existing is not None:
            return existing
        now = self.clock()
        for request in requests:
            request.check_lifetime(now)
            self.routing.check(request)
            self.expiry.admit(request, now)
        reference = self.routing.reference_price(requests[0].symbol)
        roles = roles_of(contingency, len(requests))
        closing = [role.is_exit for role in roles]
        bases = self.risk.admit_list(requests, closing, reference, now)
        list_id = f"L{self._new_order_id(now)}"
        members: list[Order] = []
        for request, role, basis in zip(requests, roles, bases, strict=True):
            order = Order.from_request(
                self._new_order_id(now), request, sender=principal.subject, now_ns=now
            )
            order.reserve_price = basis.reservation_price
            order.list_id, order.list_role = list_id, role.value
            self.keys.add((request.account_id, request.client_order_id), order.order_id)
            self.live.add(order)
            self.recorder.touch_order(order, is_new=True)
            members.append(order)
        self.lists.add(list_id, members)
        for order in members:
            if ListRole(order.list_role).held:
                order.text = _held_text(contingency, members[0])
                self.recorder.report(order, ExecType.PENDING_NEW)
            else:
                order.apply(Trigger.ACCEPT)
                self.recorder.report(order, ExecType.NEW)
                self.routing.on_accepted(order)
        self.stats.accepted += len(members)
        return [copy.copy(order) for order in members]

    def cancel(self, order_id: str, principal: Principal) -> Order:
        """Ask for the unfilled rest of an order to be cancelled."""
        order = self.live.working_for(order_id, principal)
        order.apply(Trigger.CANCEL_REQUEST)
        self.recorder.report(order, ExecType.PENDING_CANCEL)
        if not self.routing.cancel(order):
            return copy.copy(order)  # CANCELED follows once every child is done
        order.apply(Trigger.CANCEL_ACCEPT)
        order.text = order.text or f"canceled by {principal.subject}"
        self.recorder.report(order, ExecType.CANCELED)
        return copy.copy(order)

    def replace(
        self,
        order_id: str,
        principal: Principal,
        quantity: Decimal | None,
        limit_price: Decimal | None,
        client_order_id: str,
        checked: KeyCheck | None = None,
    ) -> Order:
        """Replace an order's quantity and/or limit price; the new order (or the original
        while it waits for its children)."""
        if client_order_id:
            done = self.replaces.already_made(order_id, principal, client_order_id, checked)
            if done is not None:
                return done
        old = self.live.working_for(order_id, principal)
        instrument = self.instruments[old.symbol]
        return self.replaces.request(
            old, instrument, principal, quantity, limit_price, client_order_id
        )

    # -- the kill switch ----------------------------------------------------------------

    def halt(self, account_id: str | None, principal: Principal, reason: str) -> int:
        """Refuse new orders of ``account_id`` (all when None) and cancel its working ones."""
        self.risk.halt(account_id or ALL_ACCOUNTS, principal, reason)
        return self._cancel_working(
            principal, reason, lambda order: account_id is None or order.account_id == account_id
        )

    def cancel_all(
        self, account_id: str, principal: Principal, symbol: str = "", side: Side | None = None
    ) -> int:
        """Mass cancel: cancel every working order of ``account_id`` of ``symbol`` and
        ``side`` (each when given); the number of orders a cancel was started for."""
        self.accounts.get(account_id)  # NotFoundError for an unknown account

        def matches(order: Order) -> bool:
            return (
                order.account_id == account_id
                and (not symbol or order.symbol == symbol)
                and (side is None or order.side is side)
            )

        return self._cancel_working(principal, f"mass cancel by {principal.subject}", matches)

    def _cancel_working(
        self, principal: Principal, text: str, matches: Callable[[Order], bool]
    ) -> int:
        """Cancel every working order ``matches`` picks (halt and mass cancel), each with
        ``text``; every live child at every venue is asked to cancel, and a fill that
        comes after is still applied (the parent stays PENDING_CANCEL until its children
        are done). A pending replace is refused and its original cancelled once its
        children are done, so no replacement starts working after the cancel."""
        picked = [o for o in self.live if matches(o)]
        targets = [o for o in picked if o.can(Trigger.CANCEL_REQUEST)]
        for order in targets:
            order.text = text
            self.cancel(order.order_id, principal)
        replacing = [o for o in picked if self.replaces.cancel_when_done(o.order_id, text)]
        return len(targets) + len(replacing)

    def resume(self, account_id: str | None) -> None:
        self.risk.resume(account_id or ALL_ACCOUNTS)

    # -- timers -------------------------------------------------------------------------

    def run_timers(self) -> int | None:
        """Route the orders that waited for the session to open, expire those whose time
        came (DAY at the close, GTD at their expire time); returns when this is next due
        on the engine's clock (ns), or None when nothing waits; re-peg the pegged orders
        whose held-back re-peg is due."""
        due = self.expiry.run(self.routing)
        repeg_due = self.routing.run_repegs()
        return min((d for d in (due, repeg_due) if d is not None), default=None)

    # -- accounts -----------------------------------------------------------------------

    def create_account(self, account_id: str) -> Account:
        return _snapshot(self.accounts.create(account_id, self.clock()))

    def deposit(self, account_id: str, amount: Decimal) -> Account:
        return _snapshot(self.accounts.deposit(account_id, amount, self.clock()))

    def set_risk_limits(
        self, account_id: str, limits: RiskLimits, names: frozenset[str] = frozenset()
    ) -> Account:
        return _snapshot(self.accounts.set_limits(account_id, limits, self.clock(), names))

    def account(self, account_id: str) -> Account:
        """A snapshot of an account (NotFoundError if there is none)."""
        return _snapshot(self.accounts.get(account_id))

    # -- the venue side -----------------------------------------------------------------

    def apply_venue_reports(self, reports: list[VenueReport]) -> None:
        """Apply venue reports; a replace waiting on the children they finish completes."""
        routing = self.routing
        for report in reports:
            child = routing.children.get(report.child_order_id)
            routing.apply(report)
            if child is not None:
                self.replaces.on_children_done(child.parent_order_id)

    def reconcile(self, venue: str, statuses: Mapping[str, VenueOrderStatus | None]) -> None:
        """Settle children with what ``venue`` says of them (None: it does not know one)."""
        now = self.clock()
        reports: list[VenueReport] = []
        for child_order_id, status in statuses.items():
            child = self.routing.children.get(child_order_id)
            if child is None or child.is_done:
                continue
            if status is None:
                self._unseen(child)
                continue
            if reconciliation.cancel_was_lost(child, status, now, self.policy):
                self.reconcile_stats.resent_cancels += 1
                child.updated_ns = now  # the next resend waits a whole ack timeout
                self.recorder.touch_child(child)
                self.recorder.after_commit(functools.partial(self._send_cancel, child))
            reports.extend(reconciliation.reports_from_status(venue, child, status, now))
        if reports:
            self.apply_venue_reports(reports)

    def stale_children(self) -> list[ChildOrder]:
        """Snapshots of open children unanswered for longer than the ack timeout."""
        older_than = self.clock() - self.policy.ack_timeout_ns
        return [copy.copy(c) for c in self.routing.stale_children(older_than)]

    def open_children(self) -> list[ChildOrder]:
        return [copy.copy(c) for c in self.routing.open_children()]

    def sweep_slice(self, limit: int) -> list[ChildOrder]:
        return [copy.copy(c) for c in self.routing.sweep_slice(limit)]

    def trigger_stops(self, symbol: str) -> int:
        """Route the stop orders of ``symbol`` whose stop price traded."""
        return self.routing.trigger_stops(symbol)

    # -- helpers ------------------------------------------------------------------------

    def _unseen(self, child: ChildOrder) -> None:
        action = reconciliation.unseen_action(child, self.policy)
        if action == "give_up":
            self.reconcile_stats.given_up += 1
            reason = f"venue {child.venue} never acknowledged the order"
            self.routing.mark_unknown(child.child_order_id, reason)
            self.replaces.on_children_done(child.parent_order_id)
        elif action == "resend":
            fresh = self.routing.note_resend(child.child_order_id)
            if fresh is not None:
                self.reconcile_stats.resent_orders += 1
                self.recorder.after_commit(functools.partial(self._send_new, fresh))

    def _send_new(self, child: ChildOrder) -> None:
        if self.venues is not None:
            self.venues.send_new(child)

    def _send_cancel(self, child: ChildOrder) -> None:
        if self.venues is not None:
            self.venues.send_cancel(child)

    def _on_order_changed(self, order: Order) -> None:
        self.accounts.refresh(order)
        self.expiry.track(order)
        if order.list_id:
            self.lists.note(order)

    # -- contingent lists -----------------------------------------------------------------

    def _existing_list(
        self, requests: list[OrderRequest], checked: Mapping[Key, KeyCheck]
    ) -> list[Order] | None:
        """The members of a retried list, None for a new one; ALREADY_EXISTS when only
        some keys are taken or they name other orders."""
        found: list[Order | None] = []
        for request in requests:
            key = (request.account_id, request.client_order_id)
            order_id = self.keys.keys.get(key)
            if order_id is None:
                self.keys.require_new(key, checked.get(key))
                found.append(None)
                continue
            order = self.live.get(order_id)
            if order is None:
                raise NeedsStoreRead(order_id, lambda stored: stored)
            found.append(order)
        taken = [order for order in found if order is not None]
        if not taken:
            return None
        list_ids = {order.list_id for order in taken}
        if len(taken) == len(found) and len(list_ids) == 1 and "" not in list_ids:
            return [retried_submit(copy.copy(o), r) for o, r in zip(taken, requests, strict=True)]
        raise AlreadyExistsError(
            f"client_order_id {taken[0].client_order_id!r} is already used by order "
            f"{taken[0].order_id}",
            reason="DUPLICATE_CLIENT_ORDER_ID",
        )

    def _settle_lists(self) -> None:
        """Run the rules of every list changed in this batch, until none calls for more."""
        for _ in range(MAX_LIST_ROUNDS):
            changed = self.lists.take_changed()
            if not changed:
                return
            for list_id in changed:
                members = self._current_members(list_id)
                try:
                    self._act(actions(members))
                except Exception:  # sealing must not stop the engine: the other lists run
                    log.exception("list %s: a rule could not be applied", list_id)

    def _current_members(self, list_id: str) -> list[Order]:
        """The list's members, a replaced one by the order that replaced it."""
        members = self.lists.members(list_id)
        for old in members:
            if old.state is OrderState.REPLACED:
                new = self.live.get(old.replaced_by_order_id)
                if new is not None:
                    self.lists.adopt(old, new)
        return self.lists.members(list_id)

    def _act(self, todo: ListActions) -> None:
        for order_id, quantity in todo.release:
            self._release(self.live.working[order_id], quantity)
        for order_id, quantity in todo.resize:
            self._resize(self.live.working[order_id], quantity)
        for order_id, why in todo.cancel:
            order = self.live.working.get(order_id)
            if order is not None and order.can(Trigger.CANCEL_REQUEST):
                self._cancel_for_list(order, why)

    def _release(self, order: Order, quantity: Decimal | None) -> None:
        """Acknowledge and route a held member (a BRACKET exit at the entry's fill)."""
        if quantity is not None:
            order.quantity = quantity
        order.text = ""
        order.apply(Trigger.ACCEPT)
        self.recorder.report(order, ExecType.NEW)
        self.routing.on_accepted(order)

    def _resize(self, order: Order, quantity: Decimal) -> None:
        """Grow a released BRACKET exit to the entry's fill; route the new part unless
        the exit still waits for its trigger."""
        order.quantity = quantity
        text = f"sized to the entry's fill {fmt(quantity)}"
        self.recorder.report(order, ExecType.RESTATED, text=text)
        untriggered = order.order_type.rule.waits_for_trigger and order.arrival_price is None
        if not untriggered:
            self.routing.route(order)

    def _cancel_for_list(self, order: Order, why: str) -> None:
        order.apply(Trigger.CANCEL_REQUEST)
        order.text = why
        self.recorder.report(order, ExecType.PENDING_CANCEL)
        if self.routing.cancel(order):
            order.apply(Trigger.CANCEL_ACCEPT)
            self.recorder.report(order, ExecType.CANCELED)

    def _on_fill(self, order: Order, qty: Decimal, price: Decimal, fee: Decimal) -> None:
        self.stats.fills += 1
        self.accounts.apply_fill(order, qty, price, fee, self.clock())

    def _new_order_id(self, now_ns: int) -> str:
        return self._order_ids.next(now_ns)


def _held_text(contingency: ContingencyType, first: Order) -> str:
    """Why a list member waits, e.g. ``held until order X fills (OTO)``."""
    return f"held until order {first.order_id} fills ({contingency.value})"


def _snapshot(account: Account) -> Account:
    """A copy of an account safe to read outside the writer task."""
    return copy.deepcopy(account)


def _largest_taker_fee_bps(venues: VenuePort | None) -> Decimal:
    """The fee a buy's reservation assumes: the dearest venue's (fees are static config)."""
    if venues is None:
        return ZERO
    return max((info.taker_fee_bps for info in venues.venue_infos().values()), default=ZERO)

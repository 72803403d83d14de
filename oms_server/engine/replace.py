"""The replace workflow: cancel the original's children, then hand over to a successor.

A replace is PENDING_REPLACE until every child of the original is done at its venue;
then the original is REPLACED by a new order with the new terms (``Order.successor``),
or, if it filled beyond the new quantity meanwhile, the replace is rejected and the
original works on.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from oms_server.domain.access import SYSTEM, Principal
from oms_server.domain.enums import ExecType
from oms_server.domain.errors import FailedPreconditionError, ValidationError
from oms_server.domain.instruments import Instrument
from oms_server.domain.order import Order
from oms_server.domain.order_types import Term
from oms_server.domain.state_machine import Trigger
from oms_server.engine.idempotency import Idempotency, KeyCheck, earlier_replacement
from oms_server.engine.live_orders import LiveOrders
from oms_server.engine.recorder import BatchRecorder
from oms_server.engine.risk_gate import RiskGate
from oms_server.engine.routing import Routing


@dataclass(frozen=True, slots=True)
class ReplaceTerms:
    """What a replace asks for, and the id its new order will have."""

    new_order_id: str
    client_order_id: str
    quantity: Decimal
    limit_price: Decimal | None
    sender: str


class ReplaceWorkflow:
    """Replaces in flight, keyed by the original's order id."""

    def __init__(
        self,
        live: LiveOrders,
        keys: Idempotency,
        recorder: BatchRecorder,
        routing: Routing,
        risk: RiskGate,
        new_order_id: Callable[[int], str],
        cancel: Callable[[str, Principal], Order],
    ) -> None:
        self._live = live
        self._keys = keys
        self._recorder = recorder
        self._routing = routing
        self._risk = risk
        self._new_order_id = new_order_id
        self._cancel = cancel
        self._pending: dict[str, ReplaceTerms] = {}
        #: Pending replaces a mass cancel caught, with its reason: once the original's
        #: children are done, the replace is refused and the original cancelled.
        self._canceled: dict[str, str] = {}

    def request(
        self,
        old: Order,
        instrument: Instrument,
        principal: Principal,
        quantity: Decimal | None,
        limit_price: Decimal | None,
        client_order_id: str,
    ) -> Order:
        """Start replacing ``old``; returns the new order, or ``old`` while it waits."""
        new_qty, new_price = check_terms(old, instrument, quantity, limit_price)
        reference = self._routing.reference_price(old.symbol)
        self._risk.admit_replace(old, new_qty, new_price, reference, self._recorder.now_ns())
        old.check(Trigger.REPLACE_REQUEST)
        new_id = self._new_order_id(self._recorder.now_ns())
        terms = ReplaceTerms(
            new_id, client_order_id or new_id, new_qty, new_price, principal.subject
        )
        old.apply(Trigger.REPLACE_REQUEST)
        self._recorder.report(old, ExecType.PENDING_REPLACE)
        if not self._routing.cancel(old):
            self._pending[old.order_id] = terms
            self._keys.reserve((old.account_id, terms.client_order_id), new_id, old.order_id)
            old.replaced_by_order_id = new_id  # announced now; cleared if the replace fails
            return copy.copy(old)  # finished once every child of the original is done
        return copy.copy(self._complete(old, terms))

    def already_made(
        self,
        order_id: str,
        principal: Principal,
        client_order_id: str,
        checked: KeyCheck | None,
    ) -> Order | None:
        """The replacement (or pending replace) a retry refers to; None for a new key.

        Raises ALREADY_EXISTS when another order holds the key, and NeedsKeyLookup when
        only the store can tell.
        """
        original = self._live.get(order_id)
        if original is None or not principal.can_act_for(original.account_id):
            return None
        pending = self._pending.get(order_id)
        if pending is not None and pending.client_order_id == client_order_id:
            return copy.copy(original)
        key = (original.account_id, client_order_id)
        existing_id = self._keys.keys.get(key)
        if existing_id is None:
            self._keys.require_new(key, checked)
            return None
        return self._keys.existing_order(
            existing_id, lambda found: earlier_replacement(found, order_id, client_order_id)
        )

    def cancel_when_done(self, order_id: str, reason: str) -> bool:
        """Cancel the original of a pending replace instead of replacing it, once its
        children are done (a mass cancel); False when no replace of it is pending."""
        if order_id not in self._pending:
            return False
        self._canceled[order_id] = reason
        return True

    def on_children_done(self, parent_order_id: str) -> None:
        """Finish a pending replace once the original has no live child left."""
        terms = self._pending.get(parent_order_id)
        parent = self._live.working.get(parent_order_id)
        if terms is None or parent is None or self._routing.live_children(parent):
            return
        del self._pending[parent_order_id]
        canceled = self._canceled.pop(parent_order_id, None)
        self._keys.release(terms.new_order_id)
        if parent.is_terminal:  # it filled (or ended) before its children were done
            self._withdraw(parent, terms, f"order is {parent.state.value}")
        else:
            self._complete(parent, terms, canceled)

    def _complete(self, old: Order, terms: ReplaceTerms, canceled: str | None = None) -> Order:
        """Replace ``old`` by a new order with ``terms``, or resume it if it filled too far;
        a halt or a mass cancel (``canceled``) refuses the replace and cancels ``old``."""
        stop_reason = canceled or self._risk.halted(old.account_id)
        if stop_reason is not None:
            self._reject(old, terms, stop_reason)
            old.text = stop_reason
            self._cancel(old.order_id, SYSTEM)
            return old
        if terms.quantity <= old.cum_qty:
            self._reject(old, terms, "filled beyond the new quantity")
            self._routing.route(old)
            return old
        new = old.successor(
            terms.new_order_id,
            terms.client_order_id,
            quantity=terms.quantity,
            limit_price=terms.limit_price,
            sender=terms.sender,
            now_ns=self._recorder.now_ns(),
        )
        self._keys.add((new.account_id, terms.client_order_id), new.order_id)
        self._live.add(new)
        self._recorder.touch_order(new, is_new=True)
        old.apply(Trigger.REPLACE_ACCEPT)
        old.replaced_by_order_id = new.order_id
        self._recorder.report(old, ExecType.REPLACED, text=f"replaced by {new.order_id}")
        self._recorder.report(new, ExecType.NEW, text=f"replaces {old.order_id}")
        self._routing.adopt(old, new)
        if not new.order_type.rule.waits_for_trigger or old.arrival_price is not None:
            self._routing.route(new)
        return new

    def _reject(self, old: Order, terms: ReplaceTerms, reason: str) -> None:
        """The original stays (working again); its announced replacement is withdrawn."""
        old.apply(Trigger.REPLACE_REJECT)
        self._withdraw(old, terms, reason)

    def _withdraw(self, old: Order, terms: ReplaceTerms, reason: str) -> None:
        """Say the replace was refused, and free the id and key it announced."""
        old.replaced_by_order_id = ""
        self._recorder.report(old, ExecType.REPLACE_REJECTED, text=reason)
        self._keys.discard((old.account_id, terms.client_order_id))


def check_terms(
    old: Order, instrument: Instrument, quantity: Decimal | None, limit_price: Decimal | None
) -> tuple[Decimal, Decimal | None]:
    """The replace's new quantity and limit price; refuses what a replace cannot change."""
    if quantity is None and limit_price is None:
        raise ValidationError("quantity", "give a new quantity and/or limit_price")
    if limit_price is not None:
        if Term.LIMIT_PRICE not in old.order_type.rule.allows:
            raise ValidationError("limit_price", "this order type has no limit price")
        instrument.check_price(limit_price, "limit_price")
    if quantity is not None:
        instrument.check_quantity(quantity, "quantity")
        if quantity <= old.cum_qty:
            raise FailedPreconditionError(
                f"new quantity must exceed the filled quantity {old.cum_qty}",
                reason="REPLACE_QUANTITY_TOO_LOW",
            )
    new_qty = quantity if quantity is not None else old.quantity
    new_price = limit_price if limit_price is not None else old.limit_price
    if new_qty == old.quantity and new_price == old.limit_price:
        raise ValidationError("quantity", "the replace changes nothing")
    return new_qty, new_price

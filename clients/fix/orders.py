"""What the gateway remembers about orders, and how a report of the stream becomes FIX.

The API names orders by ``order_id``; FIX clients by ClOrdID, and a cancel or replace
carries ids of its own. ``OrderDirectory`` maps ClOrdIDs to orders from what the gateway
has seen (answers and reports; the API is asked when it has not). ``Intents`` keeps the
cancels and replaces a session asked for, so that their reports carry the request's
ClOrdID (11) and the order's as OrigClOrdID (41), and a replace is reported once, as the
replacing order with ExecType 5. Both live in memory: after a gateway restart, reports of
requests made before it carry the order's own ClOrdID.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Final, TypeVar

from clients.fix.inbound import OrderRef
from clients.fix.outbound import (
    Outgoing,
    ReportIds,
    cancel_reject,
    execution_report,
    working_quantity,
)
from clients.fix.protocol import (
    CANCEL_REJECT_RESPONSE_TO,
    EXEC_TYPE_REPLACED,
    ORD_STATUS,
)
from clients.fix.refusals import OTHER
from protos.oms.v1 import common_pb2 as c
from protos.oms.v1 import order_pb2

K = TypeVar("K")

#: Orders the directory remembers (the oldest are forgotten first).
DEFAULT_ORDERS_KEPT: Final = 200_000
#: Open requests a session's intents remember.
INTENTS_KEPT: Final = 100_000


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What a FIX message about an order needs that a report may not carry."""

    order_id: str
    account: str
    cl_ord_id: str
    quantity: str


class OrderDirectory:
    """ClOrdID -> order, and each order's quantity, from what went by (bounded, LRU)."""

    def __init__(self, capacity: int = DEFAULT_ORDERS_KEPT) -> None:
        self._capacity = capacity
        self._orders: OrderedDict[str, OrderFacts] = OrderedDict()
        self._by_client_id: dict[tuple[str, str], str] = {}

    def learn_order(self, order: order_pb2.Order) -> OrderFacts:
        facts = OrderFacts(order.order_id, order.account_id, order.client_order_id, order.quantity)
        self._put(facts)
        return facts

    def learn_report(self, report: order_pb2.ExecutionReport) -> None:
        known = self._orders.get(report.order_id)
        if known is not None and known.quantity:
            self._orders.move_to_end(report.order_id)
            return
        quantity = working_quantity(report)
        self._put(OrderFacts(report.order_id, report.account_id, report.client_order_id, quantity))

    def by_client_id(self, account: str, cl_ord_id: str) -> OrderFacts | None:
        order_id = self._by_client_id.get((account, cl_ord_id))
        return None if order_id is None else self._orders.get(order_id)

    def get(self, order_id: str) -> OrderFacts | None:
        return self._orders.get(order_id)

    def _put(self, facts: OrderFacts) -> None:
        self._orders[facts.order_id] = facts
        self._orders.move_to_end(facts.order_id)
        self._by_client_id[(facts.account, facts.cl_ord_id)] = facts.order_id
        while len(self._orders) > self._capacity:
            _, old = self._orders.popitem(last=False)
            if self._by_client_id.get((old.account, old.cl_ord_id)) == old.order_id:
                del self._by_client_id[(old.account, old.cl_ord_id)]


@dataclass(frozen=True, slots=True)
class Intent:
    """A cancel or replace a session sent: its ClOrdID and the order's (OrigClOrdID)."""

    cl_ord_id: str
    orig_cl_ord_id: str


class Intents:
    """The open cancels and replaces of one session, and the FIX form of its reports."""

    def __init__(self, directory: OrderDirectory) -> None:
        self._directory = directory
        self._cancels: OrderedDict[str, Intent] = OrderedDict()
        self._replaces: OrderedDict[str, Intent] = OrderedDict()
        #: (account, new ClOrdID) -> the replace that will make that order.
        self._replacements: OrderedDict[tuple[str, str], Intent] = OrderedDict()

    def cancel(self, order_id: str, intent: Intent) -> None:
        _bounded_put(self._cancels, order_id, intent)

    def replace(self, order_id: str, account: str, intent: Intent) -> None:
        _bounded_put(self._replaces, order_id, intent)
        _bounded_put(self._replacements, (account, intent.cl_ord_id), intent)

    def forget(self, order_id: str, account: str) -> None:
        """The request on ``order_id`` was refused at once: no report will come of it."""
        self._cancels.pop(order_id, None)
        replace = self._replaces.pop(order_id, None)
        if replace is not None:
            self._replacements.pop((account, replace.cl_ord_id), None)

    def message(self, report: order_pb2.ExecutionReport) -> Outgoing | None:
        """The FIX message of a report (None: it says nothing the session is not told
        otherwise, i.e. the replaced order of a replace this session asked for)."""
        self._directory.learn_report(report)
        known = self._directory.get(report.order_id)
        quantity = known.quantity if known is not None else ""
        kind = report.exec_type
        if kind in CANCEL_REJECT_RESPONSE_TO:
            return self._cancel_reject(report)
        replacement = self._replacements.pop((report.account_id, report.client_order_id), None)
        if replacement is not None and kind == c.EXEC_TYPE_NEW:
            ids = ReportIds(replacement.cl_ord_id, replacement.orig_cl_ord_id, EXEC_TYPE_REPLACED)
            return execution_report(report, ids, quantity)
        if kind == c.EXEC_TYPE_REPLACED and report.order_id in self._replaces:
            del self._replaces[report.order_id]
            return None
        intent = self._intent_for(report)
        if intent is None:
            return execution_report(report, ReportIds(report.client_order_id), quantity)
        ids = ReportIds(intent.cl_ord_id, intent.orig_cl_ord_id)
        return execution_report(report, ids, quantity)

    def _intent_for(self, report: order_pb2.ExecutionReport) -> Intent | None:
        kind = report.exec_type
        if kind in (c.EXEC_TYPE_PENDING_CANCEL, c.EXEC_TYPE_CANCELED):
            if kind == c.EXEC_TYPE_CANCELED:
                return self._cancels.pop(report.order_id, None)
            return self._cancels.get(report.order_id)
        if kind == c.EXEC_TYPE_PENDING_REPLACE:
            return self._replaces.get(report.order_id)
        return None

    def _cancel_reject(self, report: order_pb2.ExecutionReport) -> Outgoing:
        if report.exec_type == c.EXEC_TYPE_CANCEL_REJECTED:
            intent = self._cancels.pop(report.order_id, None)
        else:
            intent = self._replaces.pop(report.order_id, None)
            if intent is not None:
                self._replacements.pop((report.account_id, intent.cl_ord_id), None)
        ref = OrderRef(
            cl_ord_id=intent.cl_ord_id if intent else report.client_order_id,
            orig_cl_ord_id=report.client_order_id,
            order_id=report.order_id,
            account=report.account_id,
            symbol=report.symbol,
            side="",
        )
        return cancel_reject(
            ref,
            order_id=report.order_id,
            ord_status=ORD_STATUS[report.order_state],
            response_to=CANCEL_REJECT_RESPONSE_TO[report.exec_type],
            reason=OTHER,
            text=report.text or "refused by the venue",
        )


def _bounded_put(table: OrderedDict[K, Intent], key: K, intent: Intent) -> None:
    table[key] = intent
    while len(table) > INTENTS_KEPT:
        table.popitem(last=False)

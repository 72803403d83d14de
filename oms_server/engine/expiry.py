"""Order lifetimes: DAY orders expire at the session close, GTD orders at their expire
time, and GTC/GTD orders submitted while the market is closed wait for the open.

``Expiry`` keeps the deadline of every working DAY and GTD order (a heap; entries of
finished orders are skipped when they come up) and the orders held until the open.
The commands ask it whether a new order may be accepted now (``admit``: MARKET_CLOSED
for DAY, IOC and FOK outside the session); routing asks it whether an order may be
routed now and whether a parent whose children are done was expiring (it is routing's
``RoutingGate``). The timer handler ``run`` routes what waited for the open, expires
what is due, and says when it is next due; the engine's facade waits until then.

Expiry goes through the transition table: an order with nothing live at a venue takes
EXPIRE at once; one with live children is cancelled first (PENDING_CANCEL, with a text
saying why) and takes EXPIRE once they are done, so a late fill is applied, not lost.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping

from oms_server.domain.enums import ExecType, OrderState, TimeInForce
from oms_server.domain.errors import FailedPreconditionError
from oms_server.domain.order import Order, OrderRequest
from oms_server.domain.session import TradingSession, utc_text
from oms_server.domain.state_machine import Trigger
from oms_server.engine.recorder import BatchRecorder
from oms_server.engine.routing import Routing

#: ErrorInfo reason of an order refused because the session is closed.
MARKET_CLOSED = "MARKET_CLOSED"
#: How soon an order whose deadline came during a cancel or replace of it is looked at
#: again (it expires once that request is answered).
RECHECK_NS = 100_000_000
#: Stale heap entries tolerated beyond the live deadlines before the heap is rebuilt.
HEAP_SLACK = 1024

_REQUEST_IN_FLIGHT = frozenset({OrderState.PENDING_CANCEL, OrderState.PENDING_REPLACE})


class Expiry:
    """Deadlines of working orders, and the orders that wait for the session to open."""

    def __init__(
        self, session: TradingSession, orders: Mapping[str, Order], recorder: BatchRecorder
    ) -> None:
        self.session = session
        self._orders = orders
        self._recorder = recorder
        #: Called when the next due time moves earlier (the facade's timer re-plans).
        self.on_sooner: Callable[[], None] = _nothing
        self._deadlines: dict[str, int] = {}
        self._heap: list[tuple[int, str]] = []
        #: Orders routing was refused for while the market was closed, in arrival order.
        self._held: dict[str, None] = {}
        #: Orders cancelled at their venues to expire (PENDING_CANCEL until children end).
        self._expiring: set[str] = set()
        #: (since, until, open): the session's state, known to hold from since to until.
        self._window = (0, 0, False)

    # -- admission ----------------------------------------------------------------------

    def admit(self, request: OrderRequest, now_ns: int) -> None:
        """Refuse a DAY, IOC or FOK order outside the session (MARKET_CLOSED)."""
        if request.time_in_force.waits_while_closed or self.is_open(now_ns):
            return
        opens = self.session.local(self.session.next_open(now_ns))
        raise FailedPreconditionError(
            f"the market is closed: the session is {self.session.describe()} and opens next "
            f"at {opens.isoformat(sep=' ')}; {request.time_in_force.value} orders are refused "
            "outside it (GTC and GTD orders are accepted and wait for the open)",
            reason=MARKET_CLOSED,
        )

    def is_open(self, now_ns: int) -> bool:
        """True when the session is open at ``now_ns`` (cached until its next change)."""
        since, until, is_open = self._window
        if not since <= now_ns < until:
            is_open = self.session.is_open(now_ns)
            until = self.session.next_close(now_ns) if is_open else self.session.next_open(now_ns)
            self._window = (now_ns, until, is_open)
        return is_open

    # -- following orders -----------------------------------------------------------------

    def track(self, order: Order) -> None:
        """Follow ``order``'s deadline; called with every order a report changed."""
        order_id = order.order_id
        if order.is_terminal:
            deadline = self._deadlines.pop(order_id, None)
            self._expiring.discard(order_id)
            self._held.pop(order_id, None)
            if deadline is not None and order.state is OrderState.REPLACED:
                self._set(order.replaced_by_order_id, deadline)  # the successor keeps the day
            return
        if order_id not in self._deadlines:
            deadline = self._deadline_of(order)
            if deadline is not None:
                self._set(order_id, deadline)

    def load(self, routing: Routing) -> None:
        """At start-up: follow every working order; mark those whose expiry was
        cancelling their children, and hold those that wait to be routed (accepted, or
        due a reroute, while the market was closed)."""
        now = self._recorder.now_ns()
        for order in self._orders.values():
            self.track(order)
            if order.state is OrderState.PENDING_CANCEL and self._past_deadline(order, now):
                self._expiring.add(order.order_id)
            elif _waits_to_be_routed(order, routing):
                self._held[order.order_id] = None
        self.on_sooner()

    # -- the routing gate -----------------------------------------------------------------

    def holds(self, order: Order) -> bool:
        """True when ``order`` may not be routed now: its lifetime is over (it expires),
        or the market is closed (it is held, and routed at the open)."""
        now = self._recorder.now_ns()
        if order.order_id in self._expiring or self._past_deadline(order, now):
            return True
        if self.is_open(now):
            return False
        if not self._held:
            self.on_sooner()  # the open becomes a due time
        self._held[order.order_id] = None
        return True

    def expiring(self, order: Order) -> bool:
        """True when ``order`` is PENDING_CANCEL only to expire."""
        return order.order_id in self._expiring

    # -- the timer ------------------------------------------------------------------------

    def run(self, routing: Routing) -> int | None:
        """Route the orders that waited for the open (once it is open) and expire those
        whose deadline came; returns when this is next due (engine clock, ns) or None."""
        now = self._recorder.now_ns()
        if self._held and self.is_open(now):
            held, self._held = self._held, {}
            for order_id in held:
                order = self._orders.get(order_id)
                if order is not None:
                    routing.route(order)
        while self._heap and self._heap[0][0] <= now:
            _, order_id = heapq.heappop(self._heap)
            order = self._orders.get(order_id)
            if order is not None and order_id in self._deadlines:
                self._expire(order, routing, now)
        return self.next_due_ns(now)

    def next_due_ns(self, now_ns: int) -> int | None:
        """When ``run`` next has something to do, or None."""
        while self._heap and self._heap[0][1] not in self._deadlines:
            heapq.heappop(self._heap)
        due = [self._heap[0][0]] if self._heap else []
        if self._held and not self.is_open(now_ns):
            due.append(self._window[1])  # the open
        return min(due, default=None)

    # -- helpers --------------------------------------------------------------------------

    def _expire(self, order: Order, routing: Routing, now_ns: int) -> None:
        """End ``order``'s lifetime: EXPIRED now, or once its children are cancelled."""
        if order.order_id in self._expiring or order.is_terminal:
            return
        if order.state in _REQUEST_IN_FLIGHT:
            self._push(now_ns + RECHECK_NS, order.order_id)  # expires once it is answered
            return
        order.text = self._lifetime_text(order, "expired")
        if not routing.live_children(order):
            routing.cancel(order)  # nothing at a venue (a waiting stop is dropped)
            order.apply(Trigger.EXPIRE)
            self._recorder.report(order, ExecType.EXPIRED)
            return
        order.apply(Trigger.CANCEL_REQUEST)
        self._expiring.add(order.order_id)
        pending = f"{self._lifetime_text(order, 'expiring')}: canceling at the venues"
        self._recorder.report(order, ExecType.PENDING_CANCEL, text=pending)
        routing.cancel(order)

    def _lifetime_text(self, order: Order, verb: str) -> str:
        """E.g. ``DAY order expired at the session close (09:30-16:00 America/New_York)``."""
        if order.expire_ns is not None:
            return f"{order.time_in_force.value} order {verb} at {utc_text(order.expire_ns)}"
        return f"DAY order {verb} at the session close ({self.session.describe()})"

    def _deadline_of(self, order: Order) -> int | None:
        if order.expire_ns is not None:
            return order.expire_ns
        if order.time_in_force is TimeInForce.DAY:
            return self._close_of_day(order.created_ns)
        return None

    def _close_of_day(self, accepted_ns: int) -> int:
        since, until, is_open = self._window
        if is_open and since <= accepted_ns < until:
            return until
        return self.session.close_of_day(accepted_ns)

    def _past_deadline(self, order: Order, now_ns: int) -> bool:
        deadline = self._deadlines.get(order.order_id)
        return deadline is not None and deadline <= now_ns

    def _set(self, order_id: str, deadline: int) -> None:
        self._deadlines[order_id] = deadline
        self._push(deadline, order_id)

    def _push(self, due_ns: int, order_id: str) -> None:
        if len(self._heap) > 2 * len(self._deadlines) + HEAP_SLACK:
            self._heap = [(d, i) for d, i in self._heap if i in self._deadlines]
            heapq.heapify(self._heap)
        sooner = not self._heap or due_ns < self._heap[0][0]
        heapq.heappush(self._heap, (due_ns, order_id))
        if sooner:
            self.on_sooner()


def _waits_to_be_routed(order: Order, routing: Routing) -> bool:
    """True for a NEW or PARTIALLY_FILLED order with nothing live at a venue that is not
    a stop waiting for its trigger: routing held it while the market was closed."""
    untriggered = order.order_type.rule.waits_for_trigger and order.arrival_price is None
    working = order.state in (OrderState.NEW, OrderState.PARTIALLY_FILLED)
    return working and not untriggered and not routing.live_children(order)


def _nothing() -> None:
    return None

"""Parent-order routing inside the engine: plan children, roll fills up, finish parents.

``ParentRouting`` holds the child-order state of the engine and the decisions about
it; the engine calls it from its writer task, so nothing here needs a lock.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Protocol

from opentelemetry import trace

from oms_server.domain.child import (
    ChildOrder,
    ChildState,
    OverfillError,
    VenueReport,
)
from oms_server.domain.decimals import ZERO, fmt
from oms_server.domain.enums import (
    ExecType,
    OrderState,
    OrderType,
    RoutingStrategy,
    Side,
    TimeInForce,
)
from oms_server.domain.errors import OmsError, ValidationError
from oms_server.domain.iceberg import next_slice
from oms_server.domain.instruments import Instrument
from oms_server.domain.order import Order, OrderRequest
from oms_server.domain.order_types import PriceSource, trail
from oms_server.domain.peg import RepegPacer, peg_price
from oms_server.domain.reports import ExecutionReport
from oms_server.domain.state_machine import Trigger
from oms_server.engine.ports import VenuePort
from oms_server.engine.recorder import BatchRecorder
from oms_server.histograms import Histogram
from oms_server.telemetry import span, tracing_enabled
from router.book import ConsolidatedBook, Level, VenueBook, VenueCapability, VenueInfo
from router.plan import ChildPlan, ParentSpec, Purpose
from router.quality import best_single_venue
from router.strategies import plan_route
from router.strategies.common import FOK_REASON, NO_LIQUIDITY, NO_LIQUIDITY_AT_LIMIT

log = logging.getLogger(__name__)
tracer = trace.get_tracer("oms.router")

#: Told of every fill rolled up to a parent: (parent, qty, price, fee).
FillListener = Callable[[Order, Decimal, Decimal, Decimal], None]

#: Times the unfilled remainder of a parent is routed again after children come back short.
MAX_REROUTES = 3


class Routing(Protocol):
    """What the engine's commands ask of routing: ``ParentRouting`` with venues, or
    ``NoVenueRouting`` (orders rest in the OMS) without."""

    children: dict[str, ChildOrder]
    ignored_reports: int
    refused_overfills: int
    #: Resting children of pegged orders canceled to re-peg them.
    repegs: int
    #: Seconds from a child's routing (its send time) to each fill of it applied.
    route_to_fill: Histogram
    #: Called when a timer (a held-back re-peg) is due sooner than the timers knew.
    on_sooner: Callable[[], None]

    def load(self, children: Iterable[ChildOrder], child_counts: dict[str, int]) -> None: ...
    def check(self, request: OrderRequest) -> None: ...
    def on_accepted(self, order: Order) -> None: ...
    def route(self, order: Order, *, rest_only: bool = False) -> None: ...
    def cancel(self, order: Order) -> bool: ...
    def live_children(self, order: Order) -> list[ChildOrder]: ...
    def adopt(self, old: Order, new: Order) -> None: ...
    def reference_price(self, symbol: str) -> Decimal | None: ...
    def apply(self, report: VenueReport) -> None: ...
    def stale_children(self, older_than_ns: int) -> list[ChildOrder]: ...
    def open_children(self) -> list[ChildOrder]: ...
    def sweep_slice(self, limit: int) -> list[ChildOrder]: ...
    def working_children(self, venue: str) -> int: ...
    def mark_unknown(self, child_order_id: str, reason: str) -> None: ...
    def note_resend(self, child_order_id: str) -> ChildOrder | None: ...
    def has_stops(self, symbol: str) -> bool: ...
    def trigger_stops(self, symbol: str) -> int: ...
    def run_repegs(self) -> int | None: ...


class RoutingGate(Protocol):
    """What routing asks of order lifetimes (``engine.expiry.Expiry``)."""

    def holds(self, order: Order) -> bool:
        """True when ``order`` may not be routed now: the market is closed (it is routed
        at the open) or its lifetime is over (it expires)."""
        ...

    def expiring(self, order: Order) -> bool:
        """True when ``order`` waits on its children only to expire."""
        ...


class _AlwaysOpen:
    """The gate of routing without a session: everything may be routed at once."""

    def holds(self, order: Order) -> bool:
        return False

    def expiring(self, order: Order) -> bool:
        return False


class ConsolidatedCache:
    """The consolidated book per symbol, rebuilt only when a venue book or venue info changed.

    Venue books and the venue-info mapping are immutable values replaced on change, so
    holding the very objects a view was built from and comparing identities is exact
    (the held objects stay alive, so their identities cannot be reused).
    """

    def __init__(self) -> None:
        self._views: dict[str, tuple[tuple[VenueBook, ...], object, ConsolidatedBook]] = {}

    def of(
        self, symbol: str, books: Mapping[str, VenueBook], infos: Mapping[str, VenueInfo]
    ) -> ConsolidatedBook:
        """The consolidated view of ``books`` (the venue books of ``symbol``) under ``infos``."""
        held = tuple(books.values())
        cached = self._views.get(symbol)
        if cached is not None and cached[1] is infos and _same_objects(cached[0], held):
            return cached[2]
        view = ConsolidatedBook.of(held, infos)
        self._views[symbol] = (held, infos, view)
        return view


def _same_objects(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


class ParentRouting:
    """Children of working parents, and what happens when venues report on them."""

    def __init__(
        self,
        venues: VenuePort,
        instruments: Mapping[str, Instrument],
        orders: dict[str, Order],
        recorder: BatchRecorder,
        on_fill: FillListener,
        gate: RoutingGate | None = None,
        pacer: RepegPacer | None = None,
        fill_room: Callable[[Order], Decimal] | None = None,
    ) -> None:
        self.venues = venues
        #: The most a list member may fill (an OCO's legs together never more than it).
        self._fill_room = fill_room
        self._gate: RoutingGate = gate or _AlwaysOpen()
        self._instruments = instruments
        self._orders = orders
        self._recorder = recorder
        self._on_fill = on_fill
        self._last_mids: dict[str, Decimal] = {}
        self._consolidated = ConsolidatedCache()
        self.children: dict[str, ChildOrder] = {}
        #: The children that wait on their venue (see ``stale_children``), kept as they
        #: change, so reconciliation does not scan every resting child twice a second.
        self._waiting: dict[str, ChildOrder] = {}
        #: The ids the current sweep goes through (see ``sweep_slice``), and how far it is.
        self._sweep_ids: list[str] = []
        self._sweep_at = 0
        self._by_parent: dict[str, list[str]] = {}
        self._child_counts: dict[str, int] = {}
        self._stops: dict[str, set[str]] = {}
        #: Pegged orders by symbol (re-pegged as its book moves), how often each may
        #: re-peg, and when those the pacer held back may go (order id -> engine ns).
        self._pegs: dict[str, set[str]] = {}
        self._pacer = pacer or RepegPacer()
        self._repeg_due: dict[str, int] = {}
        #: A re-pegged order's last canceled child and its venue's book when the cancel
        #: was confirmed: that book may still show the child, so it is left out of the
        #: book the next child is pegged to until the venue's next book.
        self._gone: dict[str, tuple[ChildOrder, VenueBook | None]] = {}
        #: Called when a held-back re-peg is due sooner than anything the timers knew.
        self.on_sooner: Callable[[], None] = _nothing
        self.repegs = 0
        self.ignored_reports = 0
        self.refused_overfills = 0
        self.route_to_fill = Histogram()

    # -- start-up -----------------------------------------------------------------------

    def load(self, children: Iterable[ChildOrder], child_counts: dict[str, int]) -> None:
        for child in children:
            self._index(child)
        self._child_counts.update(child_counts)
        for order in self._orders.values():
            untriggered = order.cum_qty == ZERO and order.arrival_price is None
            held = order.state is OrderState.PENDING_NEW  # a list member not yet released
            if order.order_type.rule.waits_for_trigger and untriggered and not held:
                self._stops.setdefault(order.symbol, set()).add(order.order_id)
            if _pegged(order) and not order.is_terminal:
                self._pegs.setdefault(order.symbol, set()).add(order.order_id)

    # -- parents ------------------------------------------------------------------------

    def check(self, request: OrderRequest) -> None:
        """Refuse at submit an order no venue could ever take: DIRECT to a venue that
        does not exist (ValidationError naming ``venue``)."""
        if request.routing_strategy is not RoutingStrategy.DIRECT:
            return
        known = self.venues.venue_infos()
        if known and request.venue not in known:
            raise ValidationError(
                "venue",
                f"unknown venue {request.venue!r} (the venues are {', '.join(sorted(known))})",
            )

    def on_accepted(self, order: Order) -> None:
        """Route a newly accepted order (orders with a trigger wait for it; a trailing
        stop's trigger starts from the book as it is now)."""
        if order.order_type.rule.waits_for_trigger:
            self._stops.setdefault(order.symbol, set()).add(order.order_id)
            self._follow(order, self.consolidated_book(order.symbol))
            return
        if _pegged(order):
            self._pegs.setdefault(order.symbol, set()).add(order.order_id)
        self.route(order)

    def route(self, order: Order, *, rest_only: bool = False) -> None:
        """Plan and create children for the part of ``order`` no live child covers (with
        ``rest_only``, one resting child and no taking ones); an order the gate holds
        (the market is closed, or its lifetime is over) is not routed now."""
        if self._gate.holds(order):
            return
        if not tracing_enabled():  # no span, and no attributes made for none
            self._route(order, rest_only)
            return
        attributes = {
            "oms.order_id": order.order_id,
            "oms.account_id": order.account_id,
            "oms.symbol": order.symbol,
        }
        with span(tracer, "router.route", attributes=attributes):
            self._route(order, rest_only)

    def _route(self, order: Order, rest_only: bool) -> None:
        live_qty = sum((c.open_qty for c in self.live_children(order)), ZERO)
        remaining = next_slice(order.open_qty, order.display_quantity, live_qty)
        if remaining <= ZERO:
            return
        books = self.venues.books(order.symbol)
        infos = self.venues.venue_infos()
        if _pegged(order):
            pegged_at = self._peg_price(order)
            if pegged_at is None:
                return  # the side it follows is empty: it rests when the book has it
            spec = self._pegged_spec(order, remaining, pegged_at)
        else:
            spec = self._spec(order, remaining, rest_only)
        if order.arrival_price is None:
            book = self._consolidated.of(order.symbol, books, infos)
            self._record_arrival(order, books, infos, book)
        plan = plan_route(spec, books, infos)
        native = _native_iceberg(order, plan.children, infos, order.open_qty - live_qty)
        if native is not None:
            self._new_child(order, native, display_quantity=order.display_quantity)
            return
        native = _native_peg(order, plan.children, infos)
        if native is not None:
            self._new_child(order, native, peg=True)
            return
        for planned in plan.children:
            self._new_child(order, planned)
        if not plan.children and not self.live_children(order):
            self._finish_unroutable(order, plan.reason or "no venue can take the order")

    def consolidated_book(self, symbol: str) -> ConsolidatedBook:
        """Best bid and offer of ``symbol`` across the routable venues (cached)."""
        return self._consolidated.of(symbol, self.venues.books(symbol), self.venues.venue_infos())

    def reference_price(self, symbol: str) -> Decimal | None:
        """The consolidated mid, the price risk checks a new order against.

        While one side of the consolidated book is empty (swept by takers, say) the last
        mid seen stands in; a symbol no venue ever quoted on both sides has none, unless
        no venue publishes market data at all (only FIX venues): then the instrument's
        configured reference price (its previous close) is the reference, as with no
        venues.
        """
        mid = self.consolidated_book(symbol).mid
        if mid is None:
            if not self.venues.publishes_books:
                return self._instruments[symbol].reference_price
            return self._last_mids.get(symbol)
        self._last_mids[symbol] = mid
        return mid

    def working_children(self, venue: str) -> int:
        """How many open children ``venue`` holds."""
        return sum(1 for c in self.children.values() if c.venue == venue and not c.is_done)

    def cancel(self, order: Order) -> bool:
        """Ask every live child to cancel; True when none is live (the parent can end now)."""
        live = self.live_children(order)
        for child in live:
            if not child.cancel_requested:
                child.cancel_requested = True
                child.updated_ns = self._recorder.now_ns()
                self._touch(child, False)
                self._recorder.after_commit(functools.partial(self.venues.send_cancel, child))
        self._drop_stop(order)
        return not live

    def live_children(self, order: Order) -> list[ChildOrder]:
        return self._live_by_id(order.order_id)

    def adopt(self, old: Order, new: Order) -> None:
        """Carry an old order's stop registration over to the order that replaces it, and
        drop the old order's children (all done: a replace completes only then)."""
        moved = self._drop_stop(old)
        self._forget(old)
        if moved:
            self._stops.setdefault(new.symbol, set()).add(new.order_id)
        if _pegged(new):
            self._pegs.setdefault(new.symbol, set()).add(new.order_id)

    # -- venue reports ------------------------------------------------------------------

    def apply(self, report: VenueReport) -> None:
        """Apply one venue report to its child and roll the effect up to the parent."""
        child = self.children.get(report.child_order_id)
        if child is None or report.exec_id in child.exec_ids:
            self.ignored_reports += 1
            return
        try:
            fill = child.apply(report)
        except OverfillError as exc:
            self.refused_overfills += 1
            log.warning("refused venue report: %s", exc, extra=_ids(child))
            return
        child.updated_ns = self._recorder.now_ns()
        self._touch(child, False)
        parent = self._orders.get(child.parent_order_id)
        trade = None
        if parent is not None and fill is not None:
            trade = self._fill_parent(parent, child, fill.quantity, fill.price, fill.fee)
        fill_exec_id = trade.exec_id if trade is not None else ""
        self._recorder.record_execution(report, child.parent_order_id, fill_exec_id)
        if parent is None:
            log.warning(
                "venue report for child %s of an unknown parent",
                child.child_order_id,
                extra=_ids(child),
            )
            return
        if child.is_done:
            self._on_child_done(parent, child)

    def stale_children(self, older_than_ns: int) -> list[ChildOrder]:
        """Children unchanged since before ``older_than_ns`` that wait on their venue.

        Waiting means: not acknowledged, a cancel unanswered, or fills missing after the
        venue finished it.
        """
        return [c for c in self._waiting.values() if c.updated_ns < older_than_ns]

    def open_children(self) -> list[ChildOrder]:
        """Every open child."""
        return [c for c in self.children.values() if not c.is_done]

    def sweep_slice(self, limit: int) -> list[ChildOrder]:
        """The next ``limit`` open children of a sweep that visits every open child in turn.

        A sweep goes through the children there were when it began (newer ones wait for
        the next sweep, which starts when this one has ended). A call costs in proportion
        to the children it passes, not to how many rest.
        """
        if self._sweep_at >= len(self._sweep_ids):
            self._sweep_ids, self._sweep_at = list(self.children), 0
        ids, at = self._sweep_ids, self._sweep_at
        found: list[ChildOrder] = []
        while at < len(ids) and len(found) < limit:
            child = self.children.get(ids[at])
            at += 1
            if child is not None and not child.is_done:
                found.append(child)
        self._sweep_at = at
        return found

    def mark_unknown(self, child_order_id: str, reason: str) -> None:
        """The venue does not know the child after resends: it ends rejected."""
        child = self.children.get(child_order_id)
        if child is None or child.is_done:
            return
        child.mark_unknown_to_venue(reason)
        child.updated_ns = self._recorder.now_ns()
        self._touch(child, False)
        parent = self._orders.get(child.parent_order_id)
        if parent is not None:
            self._on_child_done(parent, child)

    def note_resend(self, child_order_id: str) -> ChildOrder | None:
        child = self.children.get(child_order_id)
        if child is None or child.is_done:
            return None
        child.resends += 1
        child.updated_ns = child.sent_ns = self._recorder.now_ns()
        self._touch(child, False)
        return child

    # -- stops --------------------------------------------------------------------------

    def has_stops(self, symbol: str) -> bool:
        """True when orders of ``symbol`` follow its book: they wait for their trigger, or
        are pegged to it (checked per book update)."""
        return bool(self._stops.get(symbol)) or bool(self._pegs.get(symbol))

    def trigger_stops(self, symbol: str) -> int:
        """Move the trailing triggers of ``symbol`` with the book, then route the waiting
        orders whose trigger rule the book meets (each with a TRIGGERED report); re-peg
        the pegged orders of ``symbol`` the book moved away from."""
        self.repeg(symbol)
        ids = self._stops.get(symbol)
        if not ids:
            return 0
        book = self.consolidated_book(symbol)
        waiting = [order for i in list(ids) if (order := self._orders.get(i)) is not None]
        for order in waiting:
            self._follow(order, book)
        triggered = [order for order in waiting if _triggered(order, book)]
        for order in triggered:
            ids.discard(order.order_id)
            self._recorder.report(order, ExecType.TRIGGERED, text=_trigger_text(order, book))
            self.route(order)
        return len(triggered)

    def _follow(self, order: Order, book: ConsolidatedBook) -> None:
        """Move a trailing stop's trigger with ``book`` (in its favour only) and store it;
        a move is no report."""
        rule, offset = order.order_type.rule, order.trailing_offset
        if rule.trigger is None or not rule.trigger.trails or offset is None:
            return
        bid, ask = _touch(book)
        moved = trail(order.side, offset, order.trigger_price, bid, ask)
        if moved != order.trigger_price:
            order.trigger_price = moved
            order.updated_ns = self._recorder.now_ns()
            self._recorder.touch_order(order)

    # -- pegs ---------------------------------------------------------------------------

    def repeg(self, symbol: str) -> int:
        """Re-peg the pegged orders of ``symbol`` whose resting price is no longer their
        peg price: cancel the resting child (its successor is placed at the peg price of
        the moment the cancel is confirmed); returns how many re-pegged now. An order the
        pacer holds back goes when due (``run_repegs``)."""
        ids = self._pegs.get(symbol)
        if not ids:
            return 0
        return sum(self._repeg(order_id) for order_id in list(ids))

    def run_repegs(self) -> int | None:
        """Re-peg the orders the pacer held back whose time came; returns when the next
        one is due on the engine's clock (ns), or None."""
        now = self._recorder.now_ns()
        for order_id in [i for i, due in self._repeg_due.items() if due <= now]:
            self._repeg_due.pop(order_id, None)
            self._repeg(order_id)
        return min(self._repeg_due.values(), default=None)

    def _repeg(self, order_id: str) -> bool:
        """Re-peg one order if its book moved away from it and the pacer lets it."""
        order = self._orders.get(order_id)
        if order is None or order.is_terminal:
            self._drop_peg(order_id, order)
            return False
        if order.state not in _PEGGABLE or self._gate.holds(order):
            return False
        live = self.live_children(order)
        if not live:
            self.route(order)  # it waited for the side it follows to be quoted
            return False
        if any(c.peg_type is not None for c in live):
            return False  # a native peg: its venue re-prices it
        target = self._peg_price(order)
        if target is None or any(_changing(c) for c in live):
            return False  # keep resting while the book lacks the side, or a change is under way
        if all(c.limit_price == target for c in live):
            self._repeg_due.pop(order_id, None)
            return False
        now = self._recorder.now_ns()
        due = self._pacer.due_ns(order_id, now)
        if due > now:
            sooner = min(self._repeg_due.values(), default=None)
            self._repeg_due[order_id] = due
            if sooner is None or due < sooner:
                self.on_sooner()
            return False
        self._repeg_due.pop(order_id, None)
        self._pacer.note(order_id, now)
        self.repegs += 1
        for child in live:
            child.cancel_requested = True
            child.updated_ns = now
            self._touch(child, False)
            self._recorder.after_commit(functools.partial(self.venues.send_cancel, child))
        return True

    def _peg_price(self, order: Order) -> Decimal | None:
        """The price ``order`` (PEGGED) rests at against the consolidated book now, the
        pegged orders' own children left out of it (a peg never follows itself)."""
        assert order.peg_type is not None  # the order-type table requires it
        bid, ask = self._touch_of_others(order.symbol)
        tick = self._instruments[order.symbol].tick_size
        return peg_price(
            order.peg_type, order.side, order.peg_offset, order.limit_price, bid, ask, tick
        )

    def _touch_of_others(self, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        """The best bid and ask of ``symbol`` across the routable venues, less what the
        live children of its pegged orders show there (None for an empty side)."""
        venue_books = self.venues.books(symbol)
        own: dict[tuple[str, Side, Decimal | None], Decimal] = {}
        for order_id in self._pegs.get(symbol, ()):
            for child in self._own_shown(order_id, venue_books):
                if child.peg_type is not None:
                    continue  # a native peg's price is its venue's; limit_price is its cap
                key = (child.venue, child.side, child.limit_price)
                own[key] = own.get(key, ZERO) + child.quantity - child.cum_qty
        infos = self.venues.venue_infos()
        books = [
            book
            for name, book in venue_books.items()
            if (info := infos.get(name)) is not None and info.healthy
        ]
        bids = [p for b in books if (p := _top_of_others(b.venue, Side.BUY, b.bids, own))]
        asks = [p for b in books if (p := _top_of_others(b.venue, Side.SELL, b.asks, own))]
        return (max(bids) if bids else None, min(asks) if asks else None)

    def _pegged_spec(self, order: Order, quantity: Decimal, price: Decimal) -> ParentSpec:
        """A pegged order is routed as one resting limit at its peg price."""
        return ParentSpec(
            side=order.side,
            order_type=order.order_type.rule.routed_as,
            time_in_force=order.time_in_force.at_venue,
            quantity=quantity,
            instrument=self._instruments[order.symbol],
            limit_price=price,
            strategy=order.routing_strategy,
            venue=order.venue,
            rest_only=True,
        )

    def _drop_peg(self, order_id: str, order: Order | None) -> None:
        self._repeg_due.pop(order_id, None)
        self._gone.pop(order_id, None)
        self._pacer.forget(order_id)
        if order is not None:
            self._pegs.get(order.symbol, set()).discard(order_id)
        else:
            for ids in self._pegs.values():
                ids.discard(order_id)

    # -- internals ----------------------------------------------------------------------

    def _spec(self, order: Order, quantity: Decimal, rest_only: bool) -> ParentSpec:
        return ParentSpec(
            side=order.side,
            order_type=order.order_type,
            time_in_force=order.time_in_force.at_venue,
            quantity=quantity,
            instrument=self._instruments[order.symbol],
            limit_price=order.limit_price,
            strategy=order.routing_strategy,
            venue=order.venue,
            rest_only=rest_only,
        )

    def _record_arrival(
        self,
        order: Order,
        books: Mapping[str, VenueBook],
        infos: Mapping[str, VenueInfo],
        book: ConsolidatedBook,
    ) -> None:
        order.arrival_price = book.arrival_price(order.side)
        single = best_single_venue(
            order.side,
            order.open_qty,
            books,
            infos,
            limit_price=order.limit_price,
        )
        # Only a venue that could take the whole order is a like-for-like benchmark.
        if single is not None and single.quantity >= order.open_qty:
            order.single_venue_price = single.net_price

    def _new_child(
        self,
        order: Order,
        planned: ChildPlan,
        display_quantity: Decimal | None = None,
        *,
        peg: bool = False,
    ) -> None:
        """Create and send a child; with ``peg``, a native peg carrying the order's terms."""
        count = self._child_counts.get(order.order_id, 0) + 1
        self._child_counts[order.order_id] = count
        now = self._recorder.now_ns()
        child = ChildOrder(
            child_order_id=f"{order.order_id}.{count}",
            parent_order_id=order.order_id,
            account_id=order.account_id,
            venue=planned.venue,
            symbol=order.symbol,
            side=order.side,
            order_type=planned.order_type,
            time_in_force=planned.time_in_force,
            quantity=planned.quantity,
            limit_price=planned.limit_price,
            purpose=planned.purpose,
            created_ns=now,
            updated_ns=now,
            sent_ns=now,
            display_quantity=display_quantity,
            peg_type=order.peg_type if peg else None,
            peg_offset=order.peg_offset if peg else None,
        )
        self._index(child)
        self._recorder.touch_child(child, is_new=True)
        self._recorder.after_commit(lambda: self.venues.send_new(child))

    def _index(self, child: ChildOrder) -> None:
        self.children[child.child_order_id] = child
        self._by_parent.setdefault(child.parent_order_id, []).append(child.child_order_id)
        self._note_waiting(child)

    def _own_shown(self, order_id: str, books: Mapping[str, VenueBook]) -> list[ChildOrder]:
        """The children of a pegged order its venues' books may show: the live ones, and
        the one last canceled while its venue has sent no book since."""
        shown = self._live_by_id(order_id)
        gone = self._gone.get(order_id)
        if gone is not None:
            child, book = gone
            if book is not None and books.get(child.venue) is book:
                shown.append(child)
            else:
                del self._gone[order_id]
        return shown

    def _live_by_id(self, order_id: str) -> list[ChildOrder]:
        ids = self._by_parent.get(order_id, ())
        return [c for i in ids if (c := self.children.get(i)) is not None and not c.is_done]

    def _touch(self, child: ChildOrder, is_new: bool) -> None:
        """Record a change to ``child``: journal it, and keep the waiting index true."""
        self._note_waiting(child)
        self._recorder.touch_child(child, is_new=is_new)

    def _note_waiting(self, child: ChildOrder) -> None:
        if _waits_on_venue(child):
            self._waiting[child.child_order_id] = child
        else:
            self._waiting.pop(child.child_order_id, None)

    def _fill_parent(
        self, parent: Order, child: ChildOrder, qty: Decimal, price: Decimal, fee: Decimal
    ) -> ExecutionReport | None:
        """Roll a child's fill up into its parent; the parent's TRADE report (None when
        the parent refused it)."""
        if parent.list_id and self._fill_room is not None:
            room = self._fill_room(parent)
            if qty > room:
                self.refused_overfills += 1
                log.error(
                    "fill of %s of child %s cut to %s: its list allows no more",
                    fmt(qty),
                    child.child_order_id,
                    fmt(room),
                    extra=_ids(child),
                )
                if room <= ZERO:
                    return None
                qty = room
        try:
            parent.apply_fill(qty, price)
        except OmsError as exc:
            self.refused_overfills += 1
            log.error(
                "fill of child %s refused on its parent: %s",
                child.child_order_id,
                exc,
                extra=_ids(child),
            )
            return None
        parent.fees += fee
        self.route_to_fill.observe_ns(self._recorder.now_ns() - child.sent_ns)
        self._on_fill(parent, qty, price, fee)
        trade = self._recorder.report(
            parent, ExecType.TRADE, last_qty=qty, last_price=price, last_venue=child.venue
        )
        if parent.is_terminal:
            self._forget(parent)
        return trade

    def _on_child_done(self, parent: Order, child: ChildOrder) -> None:
        """Every child of a working parent is done: end it, or route what is left."""
        if parent.is_terminal:
            return
        if self.live_children(parent):
            self._cover_shortfall(parent, child)
            return
        if parent.state is OrderState.PENDING_CANCEL:
            self._end_canceled(parent)
        elif parent.state is OrderState.PENDING_REPLACE:
            return  # the engine finishes the replace (it owns successor creation)
        elif child.state is ChildState.EXPIRED:
            parent.apply(Trigger.EXPIRE)
            self._recorder.report(parent, ExecType.EXPIRED, text=child.text)
            self._forget(parent)
        elif _pegged(parent) and child.state is ChildState.CANCELED and child.cancel_requested:
            # A re-peg's cancel is confirmed: rest again at the peg price of now.
            self._gone[parent.order_id] = (child, self.venues.books(child.symbol).get(child.venue))
            self.route(parent)
        elif parent.display_quantity is not None and child.state is ChildState.FILLED:
            # An iceberg's shown slice filled: show the next (no reroute: nothing missed).
            self.route(parent)
        elif not self._route_again(parent, child):
            self._finish_unroutable(parent, _shortfall_reason(parent, child))

    def _cover_shortfall(self, parent: Order, child: ChildOrder) -> None:
        """A child ended short of its quantity while others of its parent still work (a
        take that missed beside a resting child): route what no live child covers now,
        instead of leaving it at no venue until the others are done."""
        if parent.state not in _COVERED_STATES or child.state in _NOTHING_MISSED:
            return
        if _pegged(parent) or parent.display_quantity is not None:
            return  # one live child at a time: handled once it is done
        self._route_again(parent, child)

    def _route_again(self, parent: Order, child: ChildOrder) -> bool:
        """Route what is left after ``child`` ended short: again while reroutes remain,
        then (a DAY/GTC/GTD limit) as a resting order; False when neither may be."""
        if parent.reroutes < MAX_REROUTES and parent.time_in_force is not TimeInForce.FOK:
            parent.reroutes += 1
            self._recorder.touch_order(parent)
            self.route(parent)
            return True
        if _rests(parent) and child.state is not ChildState.REJECTED:
            # Its taking children kept missing (the books moved, or others took the
            # liquidity first): a DAY/GTC/GTD limit rests rather than ends.
            self._recorder.touch_order(parent)
            self.route(parent, rest_only=True)
            return True
        return False

    def _end_canceled(self, parent: Order) -> None:
        """A PENDING_CANCEL parent whose children are done: EXPIRED when the cancel was
        its expiry, else CANCELED."""
        if self._gate.expiring(parent):
            parent.apply(Trigger.EXPIRE)
            self._recorder.report(parent, ExecType.EXPIRED)
        else:
            parent.apply(Trigger.CANCEL_ACCEPT)
            self._recorder.report(parent, ExecType.CANCELED)
        self._forget(parent)

    def _finish_unroutable(self, order: Order, reason: str) -> None:
        """End an order nothing more can be routed for: REJECTED when venues refused every
        child and nothing filled, else CANCELED with ``reason`` in its text."""
        if order.cum_qty == ZERO and order.state is OrderState.NEW and self._refused(order):
            order.apply(Trigger.REJECT)
            order.text = reason
            self._recorder.report(order, ExecType.REJECTED, text=reason)
        else:
            order.apply(Trigger.CANCEL_ACCEPT)
            order.text = canceled_text(order, reason)
            self._recorder.report(order, ExecType.CANCELED)
        self._forget(order)

    def _refused(self, order: Order) -> bool:
        """True when the order had children and every venue refused its own."""
        children = [self.children[i] for i in self._by_parent.get(order.order_id, ())]
        return bool(children) and all(c.state is ChildState.REJECTED for c in children)

    def _forget(self, order: Order) -> None:
        """Drop a finished parent's children from memory once none can change."""
        ids = self._by_parent.get(order.order_id, [])
        if all(self.children[i].is_done for i in ids if i in self.children):
            for child_id in self._by_parent.pop(order.order_id, []):
                self.children.pop(child_id, None)
            self._child_counts.pop(order.order_id, None)
        self._drop_stop(order)
        if _pegged(order):
            self._drop_peg(order.order_id, order)

    def _drop_stop(self, order: Order) -> bool:
        ids = self._stops.get(order.symbol)
        if ids and order.order_id in ids:
            ids.discard(order.order_id)
            return True
        return False


#: The states a pegged order re-pegs in (not while a cancel or replace of it is pending).
_PEGGABLE = frozenset({OrderState.NEW, OrderState.PARTIALLY_FILLED})


def _nothing() -> None:
    return None


def _top_of_others(
    venue: str,
    side: Side,
    levels: Iterable[Level],
    own: Mapping[tuple[str, Side, Decimal | None], Decimal],
) -> Decimal | None:
    """The best price of ``levels`` (one side of ``venue``'s book, best first) at which
    more shows than ``own`` children rest there; None when nothing else shows."""
    for level in levels:
        if level.size > own.get((venue, side, level.price), ZERO):
            return level.price
    return None


def _changing(child: ChildOrder) -> bool:
    """True while a child's venue has not acknowledged it, or a cancel of it is unanswered."""
    return child.cancel_requested or child.state is ChildState.PENDING_NEW


def _pegged(order: Order) -> bool:
    """True for an order whose price follows the book (ORDER_TYPE_PEGGED)."""
    return order.order_type.rule.routes_at is PriceSource.PEG


def _ids(child: ChildOrder) -> dict[str, str]:
    """What a log line about ``child`` names (JSON logs carry them as fields)."""
    return {
        "order_id": child.parent_order_id,
        "child_order_id": child.child_order_id,
        "account_id": child.account_id,
        "venue": child.venue,
    }


def canceled_text(order: Order, reason: str) -> str:
    """Why the unfilled rest of ``order`` was canceled, e.g. ``IOC remainder canceled: no
    liquidity at the limit``."""
    tif = order.time_in_force
    if tif is TimeInForce.FOK and order.cum_qty == ZERO:
        return f"FOK order canceled: {reason}"
    if tif in (TimeInForce.IOC, TimeInForce.FOK):
        return f"{tif.value} remainder canceled: {reason}"
    if order.order_type.rule.routes_at is PriceSource.MARKET:
        return f"market order remainder canceled: {reason}"
    return f"{tif.value} order canceled: {reason}"


#: Parent states in which a child's shortfall is routed again at once (not while a
#: cancel or a replace is under way: those wait for every child).
_COVERED_STATES = frozenset({OrderState.NEW, OrderState.PARTIALLY_FILLED})
#: Child ends that leave nothing to cover: filled, or expired with its session.
_NOTHING_MISSED = frozenset({ChildState.FILLED, ChildState.EXPIRED})


def _rests(order: Order) -> bool:
    """True for a limit order whose remainder rests on a book (DAY, GTC, GTD)."""
    return order.time_in_force.rests and order.order_type.rule.routes_at is not PriceSource.MARKET


def _shortfall_reason(order: Order, child: ChildOrder) -> str:
    """Why the last child of ``order`` left part of it unfilled."""
    if child.state is ChildState.REJECTED:
        return child.text or "rejected by the venue"
    if order.time_in_force is TimeInForce.FOK:
        return FOK_REASON
    if order.order_type.rule.routes_at is PriceSource.LIMIT:
        return NO_LIQUIDITY_AT_LIMIT
    return NO_LIQUIDITY


def _trigger_level(order: Order) -> Decimal | None:
    """The price ``order`` triggers at: its trailing trigger, else its stop price."""
    trigger = order.order_type.rule.trigger
    assert trigger is not None
    return order.trigger_price if trigger.trails else order.stop_price


def _touch(book: ConsolidatedBook) -> tuple[Decimal | None, Decimal | None]:
    """The consolidated best bid and ask prices (None for an empty side)."""
    bid, ask = book.best_bid, book.best_ask
    return (bid.price if bid is not None else None, ask.price if ask is not None else None)


def _triggered(order: Order, book: ConsolidatedBook) -> bool:
    """True when the consolidated book releases ``order`` by its type's trigger rule."""
    trigger, level = order.order_type.rule.trigger, _trigger_level(order)
    assert trigger is not None
    if level is None:
        return False
    bid, ask = _touch(book)
    return trigger.hit(order.side, level, bid, ask)


def _trigger_text(order: Order, book: ConsolidatedBook) -> str:
    """Why ``order`` fired, e.g. ``triggered at 99.5: best bid 99.4``."""
    bid, ask = _touch(book)  # every rule watches the ask for a buy, the bid for a sell
    quote = f"best ask {fmt(ask)}" if order.side is Side.BUY else f"best bid {fmt(bid)}"
    return f"triggered at {fmt(_trigger_level(order))}: {quote}"


def _waits_on_venue(child: ChildOrder) -> bool:
    """Not acknowledged, a cancel unanswered, or fills missing after the venue finished it."""
    return not child.is_done and (
        child.state is ChildState.PENDING_NEW or child.cancel_requested or child.venue_done
    )


def _native_iceberg(
    order: Order, planned: Sequence[ChildPlan], infos: Mapping[str, VenueInfo], unshown: Decimal
) -> ChildPlan | None:
    """For an iceberg planned to a venue that keeps icebergs itself, the one resting
    child to send there instead of the plan: ``unshown`` (all no live child holds), with
    the order's display quantity for the venue to show and refresh. None otherwise (no
    iceberg, or no such venue in the plan: the OMS manages the slices)."""
    if order.display_quantity is None or unshown <= ZERO:
        return None
    for child in planned:
        info = infos.get(child.venue)
        if info is not None and VenueCapability.ICEBERG in info.capabilities:
            return dataclasses.replace(
                child,
                quantity=unshown,
                limit_price=order.limit_price,
                time_in_force=order.time_in_force.at_venue,
                order_type=OrderType.LIMIT,
                expected_price=order.limit_price,
                purpose=Purpose.REST,
            )
    return None


def _native_peg(
    order: Order, planned: Sequence[ChildPlan], infos: Mapping[str, VenueInfo]
) -> ChildPlan | None:
    """For a pegged order planned to a venue that keeps pegs itself, the one child to
    send there instead: its limit the order's cap (None: none), the venue pricing and
    re-pricing it. None otherwise (the OMS re-pegs)."""
    if not _pegged(order):
        return None
    for child in planned:
        info = infos.get(child.venue)
        if info is not None and VenueCapability.PEG in info.capabilities:
            return dataclasses.replace(child, limit_price=order.limit_price)
    return None

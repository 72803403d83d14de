"""A venue simulator on NATS: the matching engine behind the venue.v1 wire protocol.

One ``VenueSimulator`` per scenario venue. Orders arrive on venue.<V>.orders and are
handled in arrival order after the venue's latency (every order due is handled in one
pass). Execution reports leave on the JetStream stream through a pipelined publisher
(many PubAcks awaited at once, a failed publish repeated), those made together in one
message, on the subject of the OMS shard that sent the order (``NewOrder.route``; see
venues.subjects). Books are published on md.<V>.<SYMBOL>, throttled. Faults (rejects, dropped
and duplicated reports, going dark) come from the scenario or at run time from
venue.<V>.control; the venue's ``FaultPlan`` draws them from a seeded generator, so a
run can be repeated.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from decimal import Decimal
from typing import NamedTuple

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from oms_server.domain.decimals import ZERO, fmt
from oms_server.domain.enums import ExecType
from oms_server.telemetry import extract_context, inject_headers, span, tracer, tracing_enabled
from protos.venue.v1 import venue_pb2 as v
from venues import subjects, wire
from venues.nats_client import ensure_exec_stream
from venues.publisher import PipelinedPublisher
from venues.scenario import Scenario, VenueConfig
from venues.sim.events import (
    Filled,
    MatchResult,
    OrderEvent,
    OrderStatus,
    OrderStatusReport,
    Owner,
)
from venues.sim.faults import FaultConfig, FaultPlan
from venues.sim.liquidity import MarketMaker
from venues.sim.matching import MatchingEngine
from venues.sim.order_book import NewOrder
from venues.tasks import cancel_and_wait

log = logging.getLogger(__name__)

FAULT_REJECT_TEXT = "rejected by venue (simulated fault)"
MISSING_FIELDS_TEXT = "side, order_type and time_in_force are required"
#: Every book is republished at least this often, changed or not (a heartbeat).
BOOK_REFRESH_S = 1.0


class _Inbound(NamedTuple):
    due: float
    envelope: v.OrderEnvelope
    headers: dict[str, str] | None


class VenueSimulator:
    """One simulated venue serving the venue.v1 protocol over NATS."""

    def __init__(self, nc: NatsClient, scenario: Scenario, config: VenueConfig) -> None:
        self.name = config.name
        self.config = config
        self._nc = nc
        self._js = nc.jetstream()
        self._market = scenario.market
        self.faults = FaultPlan.for_venue(config.faults, scenario.seed, config.name)
        self.latency_s = config.latency_ms / 1000
        self._dark_until = 0.0
        self._session = f"{time.time_ns():x}"
        self.engine = MatchingEngine(
            scenario.instruments,
            taker_fee_bps=config.taker_fee_bps,
            maker_rebate_bps=config.maker_rebate_bps,
        )
        self._maker = (
            MarketMaker(
                self.engine,
                seed=_venue_seed(scenario.seed, config.name),
                shared_mid_seed=scenario.seed,
            )
            if scenario.liquidity == "random_walk"
            else None
        )
        self._inbound: collections.deque[_Inbound] = collections.deque()
        self._order_arrived = asyncio.Event()
        #: Execution reports on their way to the stream; empty() once all are stored:
        #: those of orders with no route (a single OMS), and per route (an OMS shard).
        self._outbound = PipelinedPublisher(nc, subjects.exec_reports(self.name))
        self._routed: dict[str, PipelinedPublisher] = {}
        #: The route of each child order sent with one.
        self._routes: dict[str, str] = {}
        self._exec_id_prefix = f"{self.name}-{self._session}-"
        #: Reports made in this turn of the event loop, by route, sent together at its end.
        self._unsent: dict[str, list[v.ExecutionReport]] = {}
        self._send_scheduled = False
        self._dirty: set[str] = set()
        self._book_sequences: dict[str, int] = {}
        self._venue_sequence = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriptions: list[Subscription] = []
        self.orders_received = 0
        self.reports_dropped = 0
        self.fills_made = 0
        self.malformed_orders = 0

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        await ensure_exec_stream(self._js)
        for book in self.config.books:
            self.engine.seed_book(book.symbol, book.bids, book.asks)
            self._dirty.add(book.symbol)
        self._subscriptions = [
            await self._nc.subscribe(subjects.orders(self.name), cb=self._on_order),
            await self._nc.subscribe(subjects.status(self.name), cb=self._on_status),
            await self._nc.subscribe(subjects.control(self.name), cb=self._on_control),
            await self._nc.subscribe(subjects.books(self.name), cb=self._on_books),
        ]
        self._tasks = [
            asyncio.create_task(self._order_loop(), name=f"{self.name}-orders"),
            asyncio.create_task(self._book_loop(), name=f"{self.name}-books"),
        ]
        await self._outbound.start()
        if self._maker is not None:
            self._tasks.append(asyncio.create_task(self._maker_loop(), name=f"{self.name}-mm"))
        await self._nc.flush()
        log.info(
            "venue %s up (%d symbols)",
            self.name,
            len(self.engine.instruments),
            extra={"venue": self.name},
        )

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        await cancel_and_wait(self._tasks, f"venue {self.name}")
        self._tasks = []
        await self._outbound.stop()
        for publisher in self._routed.values():
            await publisher.stop()

    def reports_stored(self) -> bool:
        """True when every report made so far is stored in the stream (every route)."""
        return self._outbound.empty() and all(p.empty() for p in self._routed.values())

    @property
    def is_dark(self) -> bool:
        return time.monotonic() < self._dark_until

    def go_dark(self, seconds: float) -> None:
        self._dark_until = time.monotonic() + seconds

    # -- inbound ------------------------------------------------------------------------

    async def _on_order(self, msg: Msg) -> None:
        if self.is_dark:
            return
        self.orders_received += 1
        envelope = v.OrderEnvelope()
        try:
            envelope.ParseFromString(msg.data)
        except Exception:
            log.warning("venue %s dropped a malformed order message", self.name)
            return
        if envelope.WhichOneof("body") == "new_order" and envelope.new_order.route:
            await self._remember_route(envelope.new_order)
        self._inbound.append(_Inbound(time.monotonic() + self.latency_s, envelope, msg.headers))
        self._order_arrived.set()

    async def _remember_route(self, order: v.NewOrder) -> None:
        """Note where the reports of ``order`` go, opening a publisher for a new route."""
        route = order.route
        if route not in self._routed:
            publisher = PipelinedPublisher(self._nc, subjects.exec_reports(self.name, route))
            self._routed[route] = publisher
            await publisher.start()
        self._routes[order.child_order_id] = route

    async def _order_loop(self) -> None:
        """Handle orders in arrival order, each no earlier than its due time."""
        inbound = self._inbound
        while True:
            if not inbound:
                self._order_arrived.clear()
                await self._order_arrived.wait()
                continue
            delay = inbound[0].due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            self._handle_due()

    def _handle_due(self) -> None:
        """Handle every order due now, oldest first, up to the first one not due yet."""
        inbound = self._inbound
        now = time.monotonic()
        traced = tracing_enabled()
        while inbound and inbound[0].due <= now:
            item = inbound.popleft()
            if not traced:
                self._handle(item.envelope)
                continue
            context = extract_context(item.headers)
            attributes = _order_attributes(self.name, item.envelope)
            with span(
                tracer, f"venue.{self.name}.handle_order", context=context, attributes=attributes
            ):
                self._handle(item.envelope)

    def _handle(self, envelope: v.OrderEnvelope) -> None:
        """Handle one order message; a malformed one is refused, never the end of the loop."""
        try:
            self._handle_checked(envelope)
        except (ArithmeticError, ValueError) as exc:
            self.malformed_orders += 1
            log.warning("venue %s refused a malformed order message: %s", self.name, exc)

    def _handle_checked(self, envelope: v.OrderEnvelope) -> None:
        kind = envelope.WhichOneof("body")
        if kind == "new_order":
            result = self._new_order(envelope.new_order)
        elif kind == "cancel_order":
            result = self.engine.cancel(envelope.cancel_order.child_order_id)
        elif kind == "replace_order":
            body = envelope.replace_order
            result = self.engine.replace(
                body.child_order_id,
                Decimal(body.quantity) if body.quantity else None,
                Decimal(body.limit_price) if body.limit_price else None,
            )
        else:
            return
        self._emit(result)

    def _new_order(self, msg: v.NewOrder) -> MatchResult:
        order_id, symbol = msg.child_order_id, msg.symbol
        side = wire.SIDE_IN.get(msg.side)
        order_type = wire.TYPE_IN.get(msg.order_type)
        time_in_force = wire.TIF_IN.get(msg.time_in_force)
        quantity = _decimal_or_zero(msg.quantity)
        price = Decimal(msg.limit_price) if msg.limit_price else None
        if side is None or order_type is None or time_in_force is None:
            return self.engine.reject(order_id, symbol, MISSING_FIELDS_TEXT)
        if self.faults.rejects_new_order(lambda: self._is_new(order_id)):
            return self.engine.reject(order_id, symbol, FAULT_REJECT_TEXT)
        display = _decimal_or_zero(msg.display_quantity) if msg.display_quantity else None
        peg_type = wire.PEG_IN.get(msg.peg_type)
        order = NewOrder(
            order_id,
            symbol,
            side,
            order_type,
            time_in_force,
            quantity,
            price,
            display_quantity=display,
            peg_type=peg_type,
            peg_offset=_decimal_or_zero(msg.peg_offset),
        )
        return self.engine.submit(order)

    def _is_new(self, order_id: str) -> bool:
        return self.engine.status(order_id).status is OrderStatus.UNKNOWN

    async def _on_status(self, msg: Msg) -> None:
        if self.is_dark:
            return
        request = v.OrderStatusRequest()
        request.ParseFromString(msg.data)
        ids = list(request.child_order_ids)
        statuses = self.engine.statuses(ids if ids else None)
        response = v.OrderStatusResponse(
            venue=self.name, orders=[self._status_message(s) for s in statuses]
        )
        await msg.respond(response.SerializeToString())

    async def _on_books(self, msg: Msg) -> None:
        if self.is_dark or self.config.dark:
            return
        request = v.BookRequest()
        request.ParseFromString(msg.data)
        symbols = list(request.symbols) or [i.symbol for i in self.engine.instruments]
        known = {i.symbol for i in self.engine.instruments}
        books = [self._book_message(s) for s in symbols if s in known]
        await msg.respond(v.BookResponse(books=books).SerializeToString())

    async def _on_control(self, msg: Msg) -> None:
        control = v.SimulatorControl()
        control.ParseFromString(msg.data)
        self.apply_control(control)
        await msg.respond(v.SimulatorControlResponse(venue=self.name).SerializeToString())

    def apply_control(self, control: v.SimulatorControl) -> None:
        """Change faults, latency or a book at run time, or go dark for a while."""
        if control.HasField("faults"):
            self.faults.reconfigure(FaultConfig.read_from(control.faults))
        if control.latency_ms > 0:
            self.latency_s = control.latency_ms / 1000
        if control.dark_for_ms:
            self.go_dark(control.dark_for_ms / 1000)
        if control.HasField("set_book"):
            book = control.set_book
            symbol = book.symbol
            self._emit(self.engine.cancel_all(symbol, Owner.MM, "book replaced by control"))
            bids = [(level.price, level.size) for level in book.bids]
            asks = [(level.price, level.size) for level in book.asks]
            self._emit(self.engine.seed_book(symbol, bids, asks))
            self._dirty.add(symbol)
        log.info("venue %s control applied: %s", self.name, control, extra={"venue": self.name})

    # -- outbound -----------------------------------------------------------------------

    def _emit(self, result: MatchResult) -> None:
        """Queue the execution reports of ``result`` (the publisher retries until stored).

        Reports made in one turn of the event loop leave together, in one message (an
        order's acknowledgement and fills, every order handled in one pass). With tracing
        on, each result's reports leave at once in their own message, under its trace.
        """
        for event in result.events:
            self._dirty.add(event.symbol)
            if not event.reported:
                continue
            route = self._route_of(event)
            if isinstance(event, Filled):
                self.fills_made += 1
            if self.faults.drops_report():
                self.reports_dropped += 1
                continue
            report = self._report_message(event)
            unsent = self._unsent.setdefault(route, [])
            unsent.append(report)
            if self.faults.duplicates_report():
                unsent.append(report)
        if not self._unsent:
            return
        if tracing_enabled():
            self._send_reports(inject_headers())
        elif not self._send_scheduled:
            self._send_scheduled = True
            asyncio.get_running_loop().call_soon(self._send_reports)

    def _route_of(self, event: OrderEvent) -> str:
        """The route of the order ``event`` reports on ("" for none). Kept for good, like
        the order itself: a late refusal of a cancel still reaches the right shard."""
        return self._routes.get(event.order_id, "")

    def _send_reports(self, headers: dict[str, str] | None = None) -> None:
        """Publish the reports not sent yet, at most MAX_REPORTS_PER_MESSAGE a message,
        each route's on its own subject."""
        self._send_scheduled = False
        by_route, self._unsent = self._unsent, {}
        step = wire.MAX_REPORTS_PER_MESSAGE
        for route, unsent in by_route.items():
            publisher = self._routed[route] if route else self._outbound
            for start in range(0, len(unsent), step):
                publisher.publish(wire.reports_payload(unsent[start : start + step]), headers)

    async def _book_loop(self) -> None:
        interval = self._market.md_throttle_ms / 1000
        last_refresh = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            if self.is_dark or self.config.dark:
                continue
            if time.monotonic() - last_refresh >= BOOK_REFRESH_S:
                self._dirty.update(i.symbol for i in self.engine.instruments)
                last_refresh = time.monotonic()
            if not self._dirty:
                continue
            dirty, self._dirty = self._dirty, set()
            for symbol in sorted(dirty):
                await self._publish_book(symbol)

    async def _publish_book(self, symbol: str) -> None:
        message = self._book_message(symbol)
        with contextlib.suppress(Exception):
            await self._nc.publish(
                subjects.market_data(self.name, symbol), message.SerializeToString()
            )

    def _book_message(self, symbol: str) -> v.BookSnapshot:
        depth = self.engine.top_of_book(symbol, self._market.book_depth)
        sequence = self._book_sequences.get(symbol, 0) + 1
        self._book_sequences[symbol] = sequence
        return wire.book_message(
            self.name, symbol, depth.bids, depth.asks, sequence, time.time_ns()
        )

    async def _maker_loop(self) -> None:
        assert self._maker is not None
        interval = self._market.mm_step_ms / 1000
        while True:
            await asyncio.sleep(interval)
            if not self.is_dark:
                self._emit(self._maker.step())

    # -- messages -----------------------------------------------------------------------

    def _report_message(self, event: OrderEvent) -> v.ExecutionReport:
        self._venue_sequence += 1
        return self._event_message(event, self._venue_sequence)

    def _event_message(self, event: OrderEvent, sequence: int) -> v.ExecutionReport:
        return v.ExecutionReport(
            venue=self.name,
            exec_id=self._exec_id_prefix + str(event.event_id),
            child_order_id=event.order_id,
            exec_type=_EXEC_TYPE[event.exec_type],
            order_status=_ORDER_STATUS[event.status],
            last_qty=fmt(event.last_qty),
            last_price=fmt(event.last_price),
            cum_qty=fmt(event.cum_qty),
            leaves_qty=fmt(event.leaves_qty),
            fee=fmt(event.fee),
            liquidity=wire.LIQUIDITY_OUT[event.liquidity],
            text=event.text,
            transact_time_ns=time.time_ns(),
            venue_sequence=sequence,
        )

    def _status_message(self, status: OrderStatusReport) -> v.ChildOrderStatus:
        return v.ChildOrderStatus(
            child_order_id=status.order_id,
            order_status=_ORDER_STATUS[status.status],
            cum_qty=fmt(status.cum_qty),
            leaves_qty=fmt(status.leaves_qty),
            fills=[self._event_message(fill, 0) for fill in status.fills],
        )


#: The venue.v1 number of every value a report carries, looked up once.
_EXEC_NUMBERS = dict(v.ExecType.items())
_EXEC_TYPE = {
    kind: _EXEC_NUMBERS[f"EXEC_TYPE_{kind.value}"]
    for kind in ExecType
    if f"EXEC_TYPE_{kind.value}" in _EXEC_NUMBERS
}
_ORDER_STATUS = {
    status: v.OrderStatus.Value(f"ORDER_STATUS_{status.value}") for status in OrderStatus
}


def _venue_seed(seed: int, venue: str) -> int:
    """The market maker's seed at ``venue``: the scenario's, mixed with the venue name."""
    mixed, weight = 0, 1
    for ch in venue:
        mixed += ord(ch) * weight
        weight *= 31
    return seed * 1_000_003 + mixed


def _decimal_or_zero(text: str) -> Decimal:
    try:
        return Decimal(text) if text else ZERO
    except ArithmeticError:
        return ZERO


def _order_attributes(venue: str, envelope: v.OrderEnvelope) -> dict[str, str]:
    """The span attributes of an order message: the venue, the child and its parent."""
    body = envelope.WhichOneof("body")
    child_order_id = getattr(envelope, body).child_order_id if body else ""
    return {
        "oms.venue": venue,
        "oms.child_order_id": child_order_id,
        "oms.order_id": child_order_id.rpartition(".")[0],
    }

"""The OMS side of the venue protocol: orders out, execution reports and books in.

- Outbound orders go through one sender task (ordered, flushed in batches).
- Execution reports arrive on the JetStream stream VENUE_EXEC, several to a message,
  through a durable pull consumer (read in batches, see venues.pull), and are acked
  only after the engine has stored their effects, so a crash loses no fill and a
  redelivery is deduplicated by (venue, exec_id).
- Children left unanswered are reconciled: the connector asks their venue for their
  status and hands the answers to the engine (``ExecutionSink.reconcile``), which
  decides what they mean (oms_server.engine.reconciliation). A timeout alone never
  decides an outcome.
- Each venue has a circuit breaker: timeouts open it (no routing), a successful
  status probe closes it. ``venue_infos()`` returns the same mapping object until a
  venue's routability changes, so callers may cache on its identity.
- Market data is honest (router.freshness): each book keeps the time its venue published
  it; a book older than the allowed age leaves ``books()`` (so routing skips it), and a
  venue with no fresh book at all is unroutable, even for DIRECT orders. Staleness is
  decided when a book arrives and by a periodic check, never per order; ``quote_sources``
  (GetQuote) decides at read time and says which venues were left out and why.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import MappingProxyType
from typing import NamedTuple

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig

from oms_server.domain.child import ChildOrder, ChildState, VenueOrderStatus, VenueReport
from oms_server.domain.errors import OmsError
from oms_server.engine.ports import ExecutionSink, VenueStatus
from oms_server.telemetry import extract_context, inject_headers, span, tracer, tracing_enabled
from protos.venue.v1 import venue_pb2 as v
from router.book import VenueBook, VenueInfo
from router.circuit_breaker import BreakerState, CircuitBreaker
from router.freshness import (
    NS_PER_S,
    ExcludedVenue,
    PublishedBook,
    QuoteFreshness,
    QuoteSources,
)
from venues import subjects, wire
from venues.health import venue_statuses
from venues.nats_client import DEFAULT_REPLICAS, ensure_exec_stream
from venues.pull import PullConsumer
from venues.scenario import VenueConfig
from venues.tasks import cancel_and_wait

log = logging.getLogger(__name__)

#: Execution reports fetched from JetStream per engine command.
EXEC_FETCH_BATCH = 256
EXEC_FETCH_TIMEOUT_S = 0.5
#: Fetched batches handed to the engine and not yet stored, at most.
EXEC_BATCHES_APPLYING = 8
#: Seconds before JetStream redelivers an unacked report (e.g. held by a killed OMS);
#: redeliveries are harmless: the engine dedupes on (venue, exec_id).
EXEC_ACK_WAIT_S = 5.0
EXEC_MAX_ACK_PENDING = 20_000
RECONCILE_INTERVAL_S = 0.5
#: Every this many passes, the next slice of open children is checked: a sweep that
#: finds fills whose report was lost, at a cost bounded however many orders rest.
SWEEP_EVERY = 10
SWEEP_SLICE = 2_000
STATUS_REQUEST_TIMEOUT_S = 1.0
BOOK_REQUEST_TIMEOUT_S = 1.0
#: What a request raises when its venue does not answer (in time, or at all).
NO_ANSWER_ERRORS = (TimeoutError, nats.errors.TimeoutError, nats.errors.NoRespondersError)
#: Child ids per status request: a reply must stay far below NATS's 1 MiB payload limit.
STATUS_REQUEST_MAX_IDS = 200
#: The id a health probe asks about: unknown to the venue, so the answer is tiny.
PROBE_CHILD_ID = "probe"
PROBE_INTERVAL_S = 0.5
#: Staleness is checked this many times per allowed book age, at most every
#: PROBE_INTERVAL_S and at least every FRESHNESS_CHECK_MIN_S.
FRESHNESS_CHECKS_PER_AGE = 4
FRESHNESS_CHECK_MIN_S = 0.02
#: A book from a venue the OMS is not configured for is never quoted or routed to.
UNKNOWN_VENUE_REASON = "not a configured venue"
#: Outbound messages published per turn of the sender task.
OUTBOUND_FLUSH_EVERY = 256


class _Outbound(NamedTuple):
    subject: str
    payload: bytes
    headers: dict[str, str]


class VenueConnector:
    """Implements the engine's VenuePort over NATS."""

    def __init__(
        self,
        nc: NatsClient,
        venues: Sequence[VenueConfig],
        *,
        breaker_cool_down_s: float = 2.0,
        status_batch: int = STATUS_REQUEST_MAX_IDS,
        freshness: QuoteFreshness | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        route: str = "",
        exec_replicas: int = DEFAULT_REPLICAS,
    ) -> None:
        #: The OMS shard this connector serves ("" for a single OMS): its orders carry
        #: it, and it reads only its own reports (venues.subjects).
        self._route = route
        self._exec_replicas = exec_replicas
        self._nc = nc
        self._js = nc.jetstream()
        self._configs = {config.name: config for config in venues}
        self._breakers = {
            name: CircuitBreaker(name, cool_down_s=breaker_cool_down_s) for name in self._configs
        }
        self._order_subjects = {name: subjects.orders(name) for name in self._configs}
        #: venue_infos() as last built, and the routability of each venue it was built from.
        self._infos: Mapping[str, VenueInfo] = MappingProxyType({})
        self._infos_routable: list[bool] | None = None
        #: Per symbol, the fresh book of each venue (what routing reads), and the latest
        #: book of each venue with its publication time, fresh or not.
        self._books: dict[str, dict[str, VenueBook]] = {}
        self._latest: dict[str, dict[str, PublishedBook]] = {}
        #: Per venue, when it published its newest book; the venues with no fresh book.
        self._newest_ns: dict[str, int] = {}
        self._stale_venues: set[str] = set()
        self._freshness = freshness or QuoteFreshness()
        self._clock_ns = clock_ns
        #: Routability of each venue as book listeners were last told (all start routable).
        self._told_routable = dict.fromkeys(self._configs, True)
        self._book_decoder = wire.BookDecoder()
        self._reports = PullConsumer(
            nc,
            subjects.EXEC_STREAM,
            subjects.oms_exec_consumer(route),
            batch=EXEC_FETCH_BATCH,
            expires_s=EXEC_FETCH_TIMEOUT_S,
        )
        self._status_batch = status_batch
        self._outbound: collections.deque[_Outbound] = collections.deque()
        self._outbound_ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._sink: ExecutionSink | None = None
        self._stopping = False
        self._book_listeners: list[Callable[[VenueBook], None]] = []
        self._background: set[asyncio.Task[object]] = set()
        self._subscriptions: list[object] = []

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self, sink: ExecutionSink) -> None:
        """Subscribe to books and reports, reconcile what was open, start the loops."""
        self._sink = sink
        await ensure_exec_stream(self._js, self._exec_replicas)
        books = await self._nc.subscribe(subjects.ALL_MARKET_DATA, cb=self._on_book)
        await self._reports.start(
            subjects.oms_exec_filter(self._route),
            ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=EXEC_ACK_WAIT_S,
                max_ack_pending=EXEC_MAX_ACK_PENDING,
            ),
        )
        self._subscriptions = [books]
        await asyncio.gather(*(self._request_books(name) for name in self._configs))
        self._tasks = [
            asyncio.create_task(self._consume_reports(), name="venue-exec-consumer"),
            asyncio.create_task(self._send_loop(), name="venue-sender"),
            asyncio.create_task(self._reconcile_loop(), name="venue-reconciler"),
            asyncio.create_task(self._probe_loop(), name="venue-prober"),
            asyncio.create_task(self._freshness_loop(), name="venue-freshness"),
        ]

    async def stop(self) -> None:
        self._stopping = True
        await cancel_and_wait([*self._tasks, *self._background], "venue connector")
        self._tasks = []
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()  # type: ignore[attr-defined]
        self._subscriptions = []
        with contextlib.suppress(Exception):
            await self._reports.stop()

    # -- VenuePort ----------------------------------------------------------------------

    def books(self, symbol: str) -> Mapping[str, VenueBook]:
        return self._books.get(symbol, {})

    @property
    def publishes_books(self) -> bool:
        """Yes: the simulators publish their books on NATS."""
        return True

    def venue_infos(self) -> Mapping[str, VenueInfo]:
        """Fees, latency and health per venue: the same object while none of them changes.

        Configs are fixed at construction, so a venue's routability (its breaker, which
        callers may also change through ``breaker()``, and whether it has a fresh book) is
        the only input that moves.
        """
        now = time.monotonic()
        stale = self._stale_venues
        routable = [
            breaker.is_routable(now) and name not in stale
            for name, breaker in self._breakers.items()
        ]
        if routable != self._infos_routable:
            self._infos = MappingProxyType(
                {
                    name: VenueInfo(
                        name=name,
                        taker_fee_bps=config.taker_fee_bps,
                        maker_rebate_bps=config.maker_rebate_bps,
                        latency_ms=config.latency_ms,
                        healthy=healthy,
                        capabilities=config.capabilities,
                    )
                    for (name, config), healthy in zip(self._configs.items(), routable, strict=True)
                }
            )
            self._infos_routable = routable
        return self._infos

    def send_new(self, child: ChildOrder) -> None:
        envelope = wire.new_order_envelope(child, time.time_ns(), self._route)
        self._enqueue(self._orders_subject(child.venue), envelope.SerializeToString())

    def send_cancel(self, child: ChildOrder) -> None:
        envelope = wire.cancel_envelope(child.child_order_id)
        self._enqueue(self._orders_subject(child.venue), envelope.SerializeToString())

    def _orders_subject(self, venue: str) -> str:
        subject = self._order_subjects.get(venue)
        return subject if subject is not None else subjects.orders(venue)

    # -- health -------------------------------------------------------------------------

    def breaker(self, venue: str) -> CircuitBreaker:
        return self._breakers[venue]

    def venue_statuses(self) -> Sequence[VenueStatus]:
        """Every configured venue with its circuit-breaker state (VenueDirectory)."""
        return venue_statuses(self._configs, self._breakers)

    # -- loops --------------------------------------------------------------------------

    def _enqueue(self, subject: str, payload: bytes) -> None:
        self._outbound.append(_Outbound(subject, payload, inject_headers()))
        self._outbound_ready.set()

    async def _send_loop(self) -> None:
        """Publish what is queued, in order, OUTBOUND_FLUSH_EVERY at a time.

        nats-py's flusher task writes everything published in one loop turn with one
        socket write; no PING/PONG flush per batch (a write and a read more per batch,
        and socket calls are dear on these machines).
        """
        outbound = self._outbound
        while True:
            if not outbound:
                self._outbound_ready.clear()
                await self._outbound_ready.wait()
                continue
            lost: list[str] = []
            for _ in range(min(len(outbound), OUTBOUND_FLUSH_EVERY)):
                item = outbound.popleft()
                try:
                    await self._nc.publish(item.subject, item.payload, headers=item.headers)
                except nats.errors.Error as exc:  # e.g. reconnect buffer full
                    lost.append(str(exc))
            if lost:  # like an order lost on the wire: reconciliation finds and resends it
                log.warning("could not send %d orders: %s", len(lost), lost[-1])
            await asyncio.sleep(0)  # let the flusher write this batch

    async def _consume_reports(self) -> None:
        """Fetch batches and hand each to the engine without waiting for the one before
        to commit: reports that arrive during a commit join the very next engine batch.
        The engine applies batches in the order handed; each is acked once stored."""
        assert self._sink is not None
        applying = asyncio.Semaphore(EXEC_BATCHES_APPLYING)
        while not self._stopping:
            try:
                messages = await self._reports.fetch(EXEC_FETCH_TIMEOUT_S)
            except nats.errors.Error as exc:
                log.warning("execution report fetch failed: %s", exc)
                await asyncio.sleep(EXEC_FETCH_TIMEOUT_S)
                continue
            if messages:
                await applying.acquire()
                self._spawn(self._apply_then_release(messages, applying), "venue-exec-apply")

    async def _apply_then_release(self, messages: list[Msg], applying: asyncio.Semaphore) -> None:
        try:
            await self._apply_messages(messages)
        except OmsError as exc:  # not acked: redelivered after the ack wait, deduplicated
            log.warning("could not apply %d execution report messages: %s", len(messages), exc)
        except Exception:
            log.exception("could not apply %d execution report messages", len(messages))
        finally:
            applying.release()

    async def _apply_messages(self, messages: list[Msg]) -> None:
        """Store the reports of ``messages``, then ack every message (malformed ones too)."""
        assert self._sink is not None
        reports: list[VenueReport] = []
        for msg in messages:
            reports.extend(self._parse_reports(msg))
        self._note_reporting_venues(reports)
        if reports:
            if tracing_enabled():
                context = extract_context(messages[0].headers)
                first = reports[0]
                attributes = {
                    "oms.venue": first.venue,
                    "oms.child_order_id": first.child_order_id,
                    "oms.order_id": first.child_order_id.rpartition(".")[0],
                    "oms.reports": len(reports),
                }
                with span(
                    tracer, "oms.apply_venue_reports", context=context, attributes=attributes
                ):
                    await self._sink.apply_venue_reports(reports)
            else:
                await self._sink.apply_venue_reports(reports)
        for msg in messages:
            await msg.ack()

    def _parse_reports(self, msg: Msg) -> list[VenueReport]:
        """The reports of one exec message; a malformed one is dropped (and logged) alone."""
        try:
            messages = wire.reports_in_payload(msg.data)
        except Exception as exc:
            log.warning("dropped a malformed execution report message on %s: %s", msg.subject, exc)
            return []
        reports = []
        for message in messages:
            try:
                reports.append(wire.report_from_message(message))
            except Exception as exc:
                log.warning("dropped a malformed execution report on %s: %s", msg.subject, exc)
        return reports

    def _note_reporting_venues(self, reports: list[VenueReport]) -> None:
        """A report is a sign of life: it resets the failure count of a CLOSED breaker."""
        venues = {report.venue for report in reports}
        now = time.monotonic()
        for venue in venues:
            breaker = self._breakers.get(venue)
            if breaker is not None and breaker.state is BreakerState.CLOSED:
                breaker.record_success(now)

    async def _reconcile_loop(self) -> None:
        await self.reconcile_open_children()  # at start-up: every open child
        passes = 0
        while True:
            await asyncio.sleep(RECONCILE_INTERVAL_S)
            passes += 1
            try:
                await self.reconcile_stale_children()
                if passes % SWEEP_EVERY == 0:
                    await self.sweep_open_children()
            except Exception:
                log.exception("reconciliation pass failed")

    async def reconcile_stale_children(self) -> None:
        """Ask venues about the children the engine counts as unanswered."""
        assert self._sink is not None
        await self._reconcile_children(self._sink.stale_children())

    async def reconcile_open_children(self) -> int:
        """Reconcile every open child; returns how many were checked."""
        assert self._sink is not None
        children = self._sink.open_children()
        await self._reconcile_children(children)
        return len(children)

    async def sweep_open_children(self, limit: int = SWEEP_SLICE) -> int:
        """Reconcile the next ``limit`` open children of a sweep that visits each in turn;
        returns how many were checked."""
        assert self._sink is not None
        children = self._sink.sweep_slice(limit)
        await self._reconcile_children(children)
        return len(children)

    async def _reconcile_children(self, children: list[ChildOrder]) -> None:
        by_venue: dict[str, list[ChildOrder]] = {}
        for child in children:
            by_venue.setdefault(child.venue, []).append(child)
        await asyncio.gather(
            *(self._reconcile_venue(venue, kids) for venue, kids in by_venue.items())
        )

    async def _reconcile_venue(self, venue: str, children: list[ChildOrder]) -> None:
        """Reconcile a venue's children a batch at a time (bounded request and reply)."""
        for start in range(0, len(children), self._status_batch):
            await self._reconcile_batch(venue, children[start : start + self._status_batch])

    async def _reconcile_batch(self, venue: str, children: list[ChildOrder]) -> None:
        assert self._sink is not None
        response = await self._status(venue, [c.child_order_id for c in children])
        if response is None:
            return
        known = {s.child_order_id: s for s in response.orders}
        statuses = {
            child.child_order_id: _status_of(known.get(child.child_order_id)) for child in children
        }
        await self._sink.reconcile(venue, statuses)

    async def _status(self, venue: str, child_ids: list[str]) -> v.OrderStatusResponse | None:
        """The venue's order status, or None (and a breaker failure) when it does not answer."""
        request = v.OrderStatusRequest(child_order_ids=child_ids)
        breaker = self._breakers[venue]
        try:
            reply = await self._nc.request(
                subjects.status(venue),
                request.SerializeToString(),
                timeout=STATUS_REQUEST_TIMEOUT_S,
                headers=inject_headers(),
            )
        except NO_ANSWER_ERRORS as exc:
            breaker.record_failure(time.monotonic(), _unanswered(exc))
            return None
        response = v.OrderStatusResponse()
        response.ParseFromString(reply.data)
        breaker.record_success(time.monotonic(), "a status request was answered")
        return response

    async def _probe_loop(self) -> None:
        while True:
            await asyncio.sleep(PROBE_INTERVAL_S)
            now = time.monotonic()
            for venue, breaker in self._breakers.items():
                if breaker.state is not BreakerState.CLOSED and breaker.allows_probe(now):
                    self._spawn(self._status(venue, [PROBE_CHILD_ID]), f"probe-{venue}")

    # -- market data --------------------------------------------------------------------

    async def _request_books(self, venue: str) -> None:
        """Ask a venue for its current books (at start-up; updates arrive on md.*)."""
        try:
            reply = await self._nc.request(
                subjects.books(venue),
                v.BookRequest().SerializeToString(),
                timeout=BOOK_REQUEST_TIMEOUT_S,
            )
        except NO_ANSWER_ERRORS:
            log.warning(
                "venue %s did not send its books; waiting for updates",
                venue,
                extra={"venue": venue},
            )
            return
        response = v.BookResponse()
        response.ParseFromString(reply.data)
        for snapshot in response.books:
            self.store_book(self._book_decoder.decode(snapshot), snapshot.time_ns)

    def store_book(self, book: VenueBook, published_ns: int) -> None:
        """Keep a venue's book with its publication time (0: unknown, taken as now)."""
        now = self._clock_ns()
        published_ns = published_ns or now
        venue = book.venue
        self._latest.setdefault(book.symbol, {})[venue] = PublishedBook(book, published_ns)
        fresh = self._books.setdefault(book.symbol, {})
        if self._freshness.is_stale(published_ns, now):
            fresh.pop(venue, None)
            return
        fresh[venue] = book
        if published_ns > self._newest_ns.get(venue, 0):
            self._newest_ns[venue] = published_ns
        if venue in self._stale_venues:
            self._stale_venues.discard(venue)
            log.info(
                "venue %s: fresh books again; back in quotes and routing",
                venue,
                extra={"venue": venue},
            )

    def check_freshness(self) -> None:
        """Leave out the books that grew too old, and the venues without a fresh book, and
        tell book listeners about every book whose standing changed (periodic, cheap)."""
        now = self._clock_ns()
        changed: list[VenueBook] = []
        for symbol, latest in self._latest.items():
            fresh = self._books[symbol]
            for venue, published in latest.items():
                if venue in fresh and self._freshness.is_stale(published.published_ns, now):
                    del fresh[venue]
                    changed.append(published.book)
        for venue, newest_ns in self._newest_ns.items():
            if venue not in self._stale_venues and self._freshness.is_stale(newest_ns, now):
                self._stale_venues.add(venue)
                log.warning(
                    "venue %s: no book for %.1f s (max %.1f s); out of quotes and routing",
                    venue,
                    (now - newest_ns) / NS_PER_S,
                    self._freshness.max_age_s,
                    extra={"venue": venue},
                )
        changed.extend(self._books_of_venues_whose_routability_changed())
        for book in {(b.venue, b.symbol): b for b in changed}.values():  # each book once
            self._tell_listeners(book)

    def quote_sources(self, symbol: str) -> QuoteSources:
        """The books ``symbol``'s consolidated quote is made of now, and the venues left
        out with why (VenueDirectory): decided at read time, so never a stale book."""
        now = self._clock_ns()
        latest = self._latest.get(symbol, {})
        used: list[PublishedBook] = []
        excluded: list[ExcludedVenue] = []
        for venue in sorted(self._breakers.keys() | latest.keys()):
            published = latest.get(venue)
            breaker = self._breakers.get(venue)
            if breaker is None:
                reason: str | None = UNKNOWN_VENUE_REASON
            else:
                reason = breaker.exclusion_reason
            if reason is None and published is not None:
                reason = self._freshness.stale_reason(published.published_ns, now)
            if reason is not None:
                excluded.append(ExcludedVenue(venue, reason))
            elif published is not None:
                used.append(published)
        return QuoteSources.of(used, excluded)

    def _books_of_venues_whose_routability_changed(self) -> list[VenueBook]:
        infos = self.venue_infos()
        moved = {name for name, info in infos.items() if self._told_routable[name] != info.healthy}
        for name in moved:
            self._told_routable[name] = infos[name].healthy
        return [
            published.book
            for latest in self._latest.values()
            for venue, published in latest.items()
            if venue in moved
        ]

    async def _freshness_loop(self) -> None:
        interval_s = self._freshness.max_age_s / FRESHNESS_CHECKS_PER_AGE
        interval_s = max(FRESHNESS_CHECK_MIN_S, min(PROBE_INTERVAL_S, interval_s))
        while True:
            await asyncio.sleep(interval_s)
            try:
                self.check_freshness()
            except Exception:
                log.exception("market data freshness check failed")

    async def _on_book(self, msg: Msg) -> None:
        try:
            snapshot = v.BookSnapshot.FromString(msg.data)
            book = self._book_decoder.decode(snapshot)
        except Exception as exc:
            log.warning("dropped a malformed book on %s: %s", msg.subject, exc)
            return
        self.store_book(book, snapshot.time_ns)
        if self._sink is not None:
            self._sink.on_book(book)
        self._tell_listeners(book)

    def add_book_listener(self, listener: Callable[[VenueBook], None]) -> None:
        """Call ``listener(book)`` for every book update, and whenever a book is left out
        or taken back (market-data streaming)."""
        self._book_listeners.append(listener)

    def _tell_listeners(self, book: VenueBook) -> None:
        for listener in self._book_listeners:
            listener(book)

    def _spawn(self, coro: Coroutine[object, object, object], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _unanswered(exc: Exception) -> str:
    """A status request's failure, in the words a breaker logs and GetQuote shows."""
    if isinstance(exc, nats.errors.NoRespondersError):
        return "a status request found no venue process listening"
    return f"a status request got no answer within {STATUS_REQUEST_TIMEOUT_S:g} s"


def _status_of(status: v.ChildOrderStatus | None) -> VenueOrderStatus | None:
    """A venue's answer about one child, or None when the venue does not know it."""
    if status is None or status.order_status == v.ORDER_STATUS_UNKNOWN:
        return None
    return VenueOrderStatus(
        child_order_id=status.child_order_id,
        state=wire.STATUS_IN.get(status.order_status, ChildState.UNKNOWN),
        cum_qty=wire.decimal_or_zero(status.cum_qty),
        leaves_qty=wire.decimal_or_zero(status.leaves_qty),
        fills=tuple(wire.report_from_message(fill) for fill in status.fills),
    )

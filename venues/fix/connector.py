"""The OMS side of FIX 4.4 venues: a QuickFIX initiator with a session per venue.

The same guarantees as the NATS connector (``venues.connector``), over FIX:

- Children go out as NewOrderSingle (ClOrdID = child order id), cancels as
  OrderCancelRequest, from one sender thread (QuickFIX's send may wait on the socket).
  A child sent while its session is down is not queued for later: like an order lost
  on the wire, it is found by reconciliation.
- ExecutionReports are applied through ``ExecutionSink`` in the order they arrived;
  the engine dedupes them by exec id (``messages``: ``<ClOrdID>:<ExecID>``), so a report
  delivered twice (a ResendRequest answered with PossDupFlag) is applied once.
- Reconciliation: after every logon, every open child of the venue is asked about with
  OrderStatusRequest, and so is each child left unanswered past the ack timeout; the
  answers go to ``ExecutionSink.reconcile``, which decides what they mean. A venue that
  cannot answer OrderStatusRequest (Reject or BusinessMessageReject) leaves the child
  as it is: nothing is decided on a non-answer.
- A circuit breaker per venue: each check that finds the session down, and each status
  request unanswered in time, is a failure; once open, a status probe answered over a
  logged-on session closes it.
- Market data: a FIX venue publishes no book. It can be routed to DIRECT (and the
  router's book-driven strategies, which read only books, pass it by); quotes list it
  as left out, saying why.

QuickFIX calls the application on its own threads: each callback copies what it needs
and hands it to the event loop (``call_soon_threadsafe``); an exception escaping a
callback would end the process (the SWIG bindings), so each keeps its own.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from oms_server.domain.child import ChildOrder, VenueOrderStatus, VenueReport
from oms_server.domain.enums import Side
from oms_server.engine.ports import ExecutionSink, VenueStatus
from router.book import VenueBook, VenueInfo
from router.circuit_breaker import BreakerState, CircuitBreaker
from router.freshness import ExcludedVenue, QuoteSources
from venues.fix import messages as m
from venues.fix.engine import fix, initiator_settings, session_id
from venues.health import venue_statuses
from venues.scenario import VenueConfig
from venues.tasks import cancel_and_wait

log = logging.getLogger(__name__)

RECONNECT_INTERVAL_S: Final = 1
STATUS_REQUEST_TIMEOUT_S: Final = 1.0
#: Status requests in flight per venue, at most.
STATUS_REQUESTS_IN_FLIGHT: Final = 200
RECONCILE_INTERVAL_S: Final = 0.5
PROBE_INTERVAL_S: Final = 0.5
#: The ClOrdID a health probe asks about: unknown to the venue, so the answer is short.
PROBE_CHILD_ID: Final = "probe"
#: Outbound (MsgSeqNum -> message) remembered per venue, to read Reject and j answers.
SENT_REMEMBERED: Final = 10_000
NO_BOOK_REASON: Final = "a FIX venue: it publishes no market data (DIRECT routing only)"
_STOP: Final = object()


class _NoAnswer:
    """A status request that got no usable answer (timeout, or not supported)."""


NO_ANSWER: Final = _NoAnswer()
StatusAnswer = VenueOrderStatus | None | _NoAnswer


class FixVenueConnector:
    """Implements the engine's VenuePort (and the API's VenueDirectory) over FIX 4.4."""

    def __init__(
        self,
        venues: Sequence[VenueConfig],
        state_dir: Path,
        *,
        breaker_cool_down_s: float = 2.0,
        status_timeout_s: float = STATUS_REQUEST_TIMEOUT_S,
        reconnect_s: int = RECONNECT_INTERVAL_S,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._configs = {config.name: config for config in venues}
        for config in venues:
            if config.protocol != "fix" or config.fix is None:
                raise ValueError(f"venue {config.name} is not a FIX venue")
        self._state_dir = state_dir
        self._reconnect_s = reconnect_s
        self._status_timeout_s = status_timeout_s
        self._clock_ns = clock_ns
        self._breakers = {
            name: CircuitBreaker(name, cool_down_s=breaker_cool_down_s) for name in self._configs
        }
        self._session_ids = {name: session_id(config) for name, config in self._configs.items()}
        self._venue_of_session = {sid.toString(): name for name, sid in self._session_ids.items()}
        self._logged_on: set[str] = set()
        self._infos: Mapping[str, VenueInfo] = MappingProxyType({})
        self._infos_routable: list[bool] | None = None
        #: Per venue, what was sent by MsgSeqNum: (MsgType, ClOrdID); written by toApp.
        self._sent: dict[str, dict[int, tuple[str, str]]] = {name: {} for name in self._configs}
        self._sent_lock = threading.Lock()
        #: Status requests waiting for their answer, by (venue, ClOrdID).
        self._pending: dict[tuple[str, str], asyncio.Future[StatusAnswer]] = {}
        #: Fills seen per child (to turn a status's CumQty into the fills not seen).
        self._known: dict[str, m.KnownFills] = {}
        self._cancel_attempts: dict[str, int] = {}
        self._unsupported_status: set[str] = set()
        #: ExecutionReports received per venue (status answers not counted), repeats too.
        self.reports_received: collections.Counter[str] = collections.Counter()
        #: Work for the sink, in arrival order: report batches and reconcile answers.
        self._inbound: asyncio.Queue[Callable[[], Coroutine[object, object, None]]] = (
            asyncio.Queue()
        )
        self._reports: list[VenueReport] = []
        self._sink: ExecutionSink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._initiator: Any = None
        self._outbound: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._sender: threading.Thread | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[object]] = set()

    @property
    def venue_names(self) -> frozenset[str]:
        return frozenset(self._configs)

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self, sink: ExecutionSink) -> None:
        """Start the initiator (it connects and logs on by itself, and again after every
        drop) and the loops."""
        self._sink = sink
        self._loop = asyncio.get_running_loop()
        for sub in ("store", "log"):
            (self._state_dir / sub).mkdir(parents=True, exist_ok=True)
        settings = fix.SessionSettings()
        settings.setFromString(
            initiator_settings(list(self._configs.values()), self._state_dir, self._reconnect_s)
        )
        application = _Application(self)
        self._initiator = fix.ThreadedSocketInitiator(
            application, fix.FileStoreFactory(settings), settings, fix.FileLogFactory(settings)
        )
        self._application = application  # QuickFIX holds no Python reference to it
        self._sender = threading.Thread(target=self._send_thread, name="fix-venue-sender")
        self._sender.daemon = True
        self._sender.start()
        await asyncio.to_thread(self._initiator.start)
        self._tasks = [
            asyncio.create_task(self._apply_loop(), name="fix-venue-apply"),
            asyncio.create_task(self._reconcile_loop(), name="fix-venue-reconciler"),
            asyncio.create_task(self._probe_loop(), name="fix-venue-prober"),
        ]
        log.info("FIX venues: connecting to %s", ", ".join(self._describe()))

    async def stop(self) -> None:
        await cancel_and_wait([*self._tasks, *self._background], "FIX venue connector")
        self._tasks = []
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        if self._sender is not None:
            self._outbound.put(_STOP)
            await asyncio.to_thread(self._sender.join, 5.0)
            self._sender = None
        initiator, self._initiator = self._initiator, None
        if initiator is not None:
            await asyncio.to_thread(initiator.stop, True)
            del initiator
        self._logged_on.clear()

    def _describe(self) -> list[str]:
        return [
            f"{name} at {c.fix.host}:{c.fix.port} ({c.fix.sender_comp_id}->{c.fix.target_comp_id})"
            for name, c in self._configs.items()
            if c.fix is not None
        ]

    # -- VenuePort ----------------------------------------------------------------------

    def books(self, symbol: str) -> Mapping[str, VenueBook]:
        return {}

    @property
    def publishes_books(self) -> bool:
        """No: a FIX venue here takes orders only (no market data session)."""
        return False

    def venue_infos(self) -> Mapping[str, VenueInfo]:
        """Fees, latency and routability: the same object while no breaker moves."""
        now = time.monotonic()
        routable = [breaker.is_routable(now) for breaker in self._breakers.values()]
        if routable != self._infos_routable:
            self._infos = MappingProxyType(
                {
                    name: VenueInfo(
                        name=name,
                        taker_fee_bps=config.taker_fee_bps,
                        maker_rebate_bps=config.maker_rebate_bps,
                        latency_ms=config.latency_ms,
                        healthy=healthy,
                    )
                    for (name, config), healthy in zip(self._configs.items(), routable, strict=True)
                }
            )
            self._infos_routable = routable
        return self._infos

    def send_new(self, child: ChildOrder) -> None:
        try:
            message = m.new_order_single(child, self._clock_ns())
        except ValueError as exc:  # an order type the venue cannot take: it ends here
            report = m.rejected_report(child.venue, child.child_order_id, str(exc), 0)
            self._queue_reports([report])
            return
        self._send(child.venue, message, child.child_order_id)

    def send_cancel(self, child: ChildOrder) -> None:
        attempt = self._cancel_attempts.get(child.child_order_id, 0) + 1
        self._cancel_attempts[child.child_order_id] = attempt
        cancel_id = m.cancel_id_of(child.child_order_id, attempt)
        self._send(child.venue, m.cancel_request(child, cancel_id, self._clock_ns()), cancel_id)

    def _send(self, venue: str, message: m.Outgoing, cl_ord_id: str) -> None:
        if venue not in self._logged_on:
            log.warning(
                "venue %s: no FIX session; %s %s not sent (reconciliation finds it)",
                venue,
                message.msg_type,
                cl_ord_id,
                extra={"venue": venue},
            )
            return
        self._outbound.put((self._session_ids[venue], message))

    def _send_thread(self) -> None:
        while (item := self._outbound.get()) is not _STOP:
            assert isinstance(item, tuple)
            sid, message = item
            built = fix.Message()
            built.getHeader().setField(fix.MsgType(message.msg_type))
            for tag, value in message.fields:
                built.setField(tag, value)
            try:
                fix.Session.sendToTarget(built, sid)
            except Exception:
                log.exception("FIX send to %s failed", sid.toString())

    # -- VenueDirectory -----------------------------------------------------------------

    def breaker(self, venue: str) -> CircuitBreaker:
        return self._breakers[venue]

    def is_logged_on(self, venue: str) -> bool:
        return venue in self._logged_on

    def refuses_status_requests(self, venue: str) -> bool:
        """True once the venue has refused an OrderStatusRequest (Reject or j)."""
        return venue in self._unsupported_status

    def venue_statuses(self) -> Sequence[VenueStatus]:
        """Every configured venue with its circuit-breaker state (VenueDirectory)."""
        return venue_statuses(self._configs, self._breakers)

    def quote_sources(self, symbol: str) -> QuoteSources:
        excluded = [
            ExcludedVenue(name, self._breakers[name].exclusion_reason or NO_BOOK_REASON)
            for name in sorted(self._configs)
        ]
        return QuoteSources.of((), excluded)

    def add_book_listener(self, listener: Callable[[VenueBook], None]) -> None:
        return None  # no books ever change here

    # -- from QuickFIX's threads --------------------------------------------------------

    def from_thread(self, callback: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(callback, *args)

    def venue_of(self, sid: Any) -> str | None:
        return self._venue_of_session.get(sid.toString())

    def remember_sent(self, venue: str, seq: int, msg_type: str, cl_ord_id: str) -> None:
        with self._sent_lock:
            sent = self._sent[venue]
            sent[seq] = (msg_type, cl_ord_id)
            if len(sent) > SENT_REMEMBERED:
                del sent[next(iter(sent))]

    def _sent_as(self, venue: str, seq: int) -> tuple[str, str] | None:
        with self._sent_lock:
            return self._sent[venue].get(seq)

    # -- on the loop: sessions ----------------------------------------------------------

    def logged_on(self, venue: str) -> None:
        with self._sent_lock:
            self._sent[venue].clear()  # sequence numbers start again at every logon
        self._logged_on.add(venue)
        log.info("venue %s: FIX session logged on", venue, extra={"venue": venue})
        breaker = self._breakers[venue]
        if breaker.state is BreakerState.CLOSED:
            breaker.record_success(time.monotonic(), "FIX logon")
        self._spawn(self._reconcile_after_logon(venue), f"fix-reconcile-{venue}")

    def logged_out(self, venue: str) -> None:
        if venue not in self._logged_on:
            return
        self._logged_on.discard(venue)
        self._breakers[venue].record_failure(time.monotonic(), "the FIX session dropped")
        for (pending_venue, _), future in list(self._pending.items()):
            if pending_venue == venue and not future.done():
                future.set_result(NO_ANSWER)
        log.warning("venue %s: FIX session logged out", venue, extra={"venue": venue})

    # -- on the loop: messages ----------------------------------------------------------

    def on_message(self, venue: str, raw: str) -> None:
        try:
            fields = m.parse(raw)
            msg_type = fields.get(m.Tag.MSG_TYPE, "")
            if msg_type == m.MsgType.EXECUTION_REPORT:
                self._on_execution_report(venue, fields)
            elif msg_type in (m.MsgType.REJECT, m.MsgType.BUSINESS_MESSAGE_REJECT):
                self._on_reject(venue, fields)
            elif msg_type == m.MsgType.ORDER_CANCEL_REJECT:
                log.info(
                    "venue %s refused to cancel %s: %s",
                    venue,
                    fields.get(m.Tag.ORIG_CL_ORD_ID, "?"),
                    fields.get(m.Tag.TEXT, ""),
                    extra={"venue": venue},
                )
        except m.MalformedMessage as exc:
            log.warning("venue %s: dropped a FIX message: %s", venue, exc, extra={"venue": venue})

    def _on_execution_report(self, venue: str, fields: m.Fields) -> None:
        breaker = self._breakers[venue]
        if m.is_status_answer(fields):
            future = self._pending.get((venue, m.child_id_of(fields)))
            if future is not None and not future.done():
                config = self._configs[venue]
                known = self._known.get(m.child_id_of(fields), m.KnownFills())
                future.set_result(
                    m.order_status(venue, fields, known, config.taker_fee_bps, self._clock_ns())
                )
            return
        report = m.venue_report(venue, fields, self._configs[venue].taker_fee_bps)
        self.reports_received[venue] += 1
        if report.last_qty:
            known = self._known.setdefault(report.child_order_id, m.KnownFills())
            known.qty += report.last_qty
            known.notional += report.last_qty * report.last_price
        if report.status.is_final:  # no status is asked about a finished child
            self._cancel_attempts.pop(report.child_order_id, None)
            self._known.pop(report.child_order_id, None)
        if breaker.state is BreakerState.CLOSED:
            breaker.record_success(time.monotonic())
        self._queue_reports([report])

    def _on_reject(self, venue: str, fields: m.Fields) -> None:
        """Reject (3) or BusinessMessageReject (j) of something the OMS sent."""
        text = fields.get(m.Tag.TEXT, "") or f"refused by the venue ({fields[m.Tag.MSG_TYPE]})"
        if fields.get(m.Tag.REF_TAG_ID):
            text = f"{text} (tag {fields[m.Tag.REF_TAG_ID]})"
        ref_seq = fields.get(m.Tag.REF_SEQ_NUM, "")
        sent = self._sent_as(venue, int(ref_seq)) if ref_seq.isdigit() else None
        if sent is None:
            log.warning("venue %s refused a message: %s", venue, text, extra={"venue": venue})
            return
        msg_type, cl_ord_id = sent
        if msg_type == m.MsgType.NEW_ORDER_SINGLE:
            self._queue_reports([m.rejected_report(venue, cl_ord_id, text, self._clock_ns())])
        elif msg_type == m.MsgType.ORDER_STATUS_REQUEST:
            if venue not in self._unsupported_status:
                self._unsupported_status.add(venue)
                log.warning(
                    "venue %s does not answer OrderStatusRequest (%s): its children are "
                    "settled by their reports only",
                    venue,
                    text,
                    extra={"venue": venue},
                )
            self._breakers[venue].record_success(time.monotonic(), "the venue answered")
            future = self._pending.get((venue, cl_ord_id))
            if future is not None and not future.done():
                future.set_result(NO_ANSWER)
        else:
            log.warning(
                "venue %s refused %s %s: %s", venue, msg_type, cl_ord_id, text,
                extra={"venue": venue},
            )  # fmt: skip

    # -- to the sink, in order ----------------------------------------------------------

    def _queue_reports(self, reports: list[VenueReport]) -> None:
        """Reports join the batch being gathered; one engine call per batch."""
        if not self._reports:
            self._inbound.put_nowait(self._apply_gathered)
        self._reports.extend(reports)

    async def _apply_gathered(self) -> None:
        reports, self._reports = self._reports, []
        if reports and self._sink is not None:
            await self._sink.apply_venue_reports(reports)

    async def _apply_loop(self) -> None:
        while True:
            work = await self._inbound.get()
            try:
                await work()
            except Exception:
                log.exception("FIX venue reports could not be applied")

    # -- reconciliation -----------------------------------------------------------------

    async def _reconcile_after_logon(self, venue: str) -> None:
        assert self._sink is not None
        children = [c for c in self._sink.open_children() if c.venue == venue]
        if children:
            log.info(
                "venue %s: asking the status of %d open children after logon",
                venue,
                len(children),
                extra={"venue": venue},
            )
        await self._reconcile_venue(venue, children)

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(RECONCILE_INTERVAL_S)
            try:
                await self.reconcile_stale_children()
            except Exception:
                log.exception("FIX venue reconciliation pass failed")

    async def reconcile_stale_children(self) -> None:
        """Ask FIX venues about the children the engine counts as unanswered."""
        assert self._sink is not None
        by_venue: dict[str, list[ChildOrder]] = {}
        askable = self._logged_on - self._unsupported_status
        for child in self._sink.stale_children():
            if child.venue in askable and (child.venue, child.child_order_id) not in self._pending:
                by_venue.setdefault(child.venue, []).append(child)
        await asyncio.gather(*(self._reconcile_venue(v, kids) for v, kids in by_venue.items()))

    async def _reconcile_venue(self, venue: str, children: list[ChildOrder]) -> None:
        for start in range(0, len(children), STATUS_REQUESTS_IN_FLIGHT):
            batch = children[start : start + STATUS_REQUESTS_IN_FLIGHT]
            for child in batch:  # fills stored before this session count as known
                known = self._known.setdefault(child.child_order_id, m.KnownFills())
                if child.cum_qty > known.qty:
                    known.qty, known.notional = child.cum_qty, child.cum_notional
            answers = await asyncio.gather(
                *(self._status(venue, c.child_order_id, c) for c in batch)
            )
            statuses = {
                child.child_order_id: answer
                for child, answer in zip(batch, answers, strict=True)
                if not isinstance(answer, _NoAnswer)
            }
            if statuses:
                await self._in_order(self._reconcile_with(venue, statuses))

    async def _reconcile_with(
        self, venue: str, statuses: Mapping[str, VenueOrderStatus | None]
    ) -> None:
        assert self._sink is not None
        await self._sink.reconcile(venue, statuses)

    async def _in_order(self, work: Coroutine[object, object, None]) -> None:
        """Run ``work`` after every report that arrived before it has been applied."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def run() -> None:
            try:
                await work
            finally:
                if not done.done():
                    done.set_result(None)

        self._inbound.put_nowait(run)
        await done

    async def _status(self, venue: str, cl_ord_id: str, child: ChildOrder | None) -> StatusAnswer:
        """The venue's answer about one child (NO_ANSWER when there is none in time, which
        is a breaker failure)."""
        if venue not in self._logged_on:
            return NO_ANSWER
        key = (venue, cl_ord_id)
        future = self._pending.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._pending[key] = future
            symbol = child.symbol if child is not None else "PROBE"
            side = child.side if child is not None else Side.BUY
            self._outbound.put(
                (self._session_ids[venue], m.status_request(cl_ord_id, symbol, side))
            )
        breaker = self._breakers[venue]
        try:
            answer = await asyncio.wait_for(asyncio.shield(future), self._status_timeout_s)
        except TimeoutError:
            breaker.record_failure(
                time.monotonic(),
                f"an OrderStatusRequest got no answer within {self._status_timeout_s:g} s",
            )
            return NO_ANSWER
        finally:
            if self._pending.get(key) is future:  # a late answer finds no one waiting
                del self._pending[key]
        if not isinstance(answer, _NoAnswer):
            breaker.record_success(time.monotonic(), "an OrderStatusRequest was answered")
        return answer

    # -- health -------------------------------------------------------------------------

    async def _probe_loop(self) -> None:
        while True:
            await asyncio.sleep(PROBE_INTERVAL_S)
            now = time.monotonic()
            for venue, breaker in self._breakers.items():
                if venue not in self._logged_on:
                    if breaker.state is BreakerState.CLOSED or breaker.allows_probe(now):
                        breaker.record_failure(now, "no FIX session (not logged on)")
                elif breaker.state is not BreakerState.CLOSED and breaker.allows_probe(now):
                    self._spawn(self._probe(venue), f"fix-probe-{venue}")

    async def _probe(self, venue: str) -> None:
        answer = await self._status(venue, PROBE_CHILD_ID, None)
        if isinstance(answer, _NoAnswer) and venue in self._unsupported_status:
            return  # answered with a refusal: _on_reject counted it as a success
        if isinstance(answer, _NoAnswer):
            self._breakers[venue].record_failure(time.monotonic(), "the status probe failed")

    def _spawn(self, coro: Coroutine[object, object, object], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


class _Application(fix.Application):
    """QuickFIX's callbacks: copy, then hand over to the connector on its loop."""

    def __init__(self, connector: FixVenueConnector) -> None:
        super().__init__()
        self._connector = connector

    def onCreate(self, sid: Any) -> None:
        pass

    def onLogon(self, sid: Any) -> None:
        self._hand_over(sid, FixVenueConnector.logged_on)

    def onLogout(self, sid: Any) -> None:
        self._hand_over(sid, FixVenueConnector.logged_out)

    def toAdmin(self, message: Any, sid: Any) -> None:
        pass

    def fromAdmin(self, message: Any, sid: Any) -> None:
        try:
            if message.getHeader().getField(m.Tag.MSG_TYPE) == m.MsgType.REJECT:
                self._hand_over_message(message, sid)
        except Exception:
            log.exception("FIX fromAdmin failed")

    def toApp(self, message: Any, sid: Any) -> None:
        try:
            header = message.getHeader()
            msg_type = str(header.getField(m.Tag.MSG_TYPE))
            venue = self._connector.venue_of(sid)
            if venue is not None and message.isSetField(m.Tag.CL_ORD_ID):
                seq = int(header.getField(m.Tag.MSG_SEQ_NUM))
                cl_ord_id = str(message.getField(m.Tag.CL_ORD_ID))
                self._connector.remember_sent(venue, seq, msg_type, cl_ord_id)
        except Exception:
            log.exception("FIX toApp failed")

    def fromApp(self, message: Any, sid: Any) -> None:
        try:
            self._hand_over_message(message, sid)
        except Exception:
            log.exception("FIX fromApp failed")

    def _hand_over(self, sid: Any, callback: Callable[[FixVenueConnector, str], None]) -> None:
        try:
            venue = self._connector.venue_of(sid)
            if venue is not None:
                self._connector.from_thread(callback, self._connector, venue)
        except Exception:
            log.exception("FIX session callback failed")

    def _hand_over_message(self, message: Any, sid: Any) -> None:
        venue = self._connector.venue_of(sid)
        if venue is not None:
            self._connector.from_thread(self._connector.on_message, venue, str(message.toString()))

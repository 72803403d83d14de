"""One client's FIX session: its logon, its requests to the API, its report streams.

Everything here runs on the gateway's event loop, except ``check_logon`` and
``stored_report``, which QuickFIX threads call (they only touch locked state). Requests
run concurrently, except that a request waits for the earlier ones on the same ClOrdIDs
(a cancel for its order's NewOrderSingle, a mass cancel for everything before it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import grpc

from clients.fix.admission import Grant, Principal
from clients.fix.cursor import ReportCursor
from clients.fix.engine import ClientAcceptor
from clients.fix.entry import EntryLine
from clients.fix.inbound import (
    CancelRequest,
    MassCancelRequest,
    NewOrder,
    OrderRef,
    ReplaceRequest,
    Request,
    StatusRequest,
)
from clients.fix.orders import Intent, Intents, OrderDirectory, OrderFacts
from clients.fix.outbound import (
    Outgoing,
    cancel_reject,
    mass_cancel_report,
    not_authorized,
    order_rejected,
    order_status,
    unknown_order_status,
)
from clients.fix.protocol import (
    MASS_CANCEL_NOT_SUPPORTED,
    MASS_CANCEL_OTHER,
    MASS_CANCEL_REJECTED,
    MASS_CANCEL_TYPES,
    ORD_STATUS,
    ORD_STATUS_REJECTED,
    RESPONSE_TO_CANCEL,
    RESPONSE_TO_REPLACE,
    SIDE_FROM_FIX,
)
from clients.fix.refusals import OTHER, cxl_rej_reason, ord_rej_reason, refusal_text
from clients.fix.sender import Sender
from clients.sdk import NotFound, OmsClient, OmsError
from clients.sdk.entry import Replace, Submit

log = logging.getLogger(__name__)

#: Requests of one session waiting or running; more are refused (the gateway is busy).
MAX_REQUESTS_IN_FLIGHT: Final = 10_000
#: Calls to the OMS one session makes at once (the rest wait their turn): the OMS caps
#: the calls it serves at once, and a burst of orders must not run into that cap.
MAX_CALLS_AT_ONCE: Final = 128
#: How many of an account's newest orders a ClOrdID the gateway has not seen is looked for in.
MAX_ORDERS_SEARCHED: Final = 5_000
#: Pause before a report stream the OMS refused is opened again (doubling up to the max).
FOLLOW_RETRY_S: Final = 1.0
MAX_FOLLOW_RETRY_S: Final = 30.0
#: Refusals that mean the token no longer opens this session.
_TOKEN_REFUSED: Final = frozenset({grpc.StatusCode.UNAUTHENTICATED})
_DROP_COPY_TEXT: Final = "this is a drop copy session: it is read-only"
#: The ordering key of a mass cancel: it waits for everything before it, and everything
#: after it waits for it.
_EVERYTHING: Final = "\x00mass-cancel"


class _Refusal(Exception):
    """A request the gateway refuses itself, with the text for the client."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass(frozen=True, slots=True)
class Inbound:
    """A request as it arrived: its message type and sequence number too."""

    msg_type: str
    seq_num: str
    request: Request


class FixSession:
    """The gateway's side of one client CompID."""

    def __init__(
        self,
        comp_id: str,
        acceptor: ClientAcceptor,
        cursor: ReportCursor,
        directory: OrderDirectory,
    ) -> None:
        self.comp_id = comp_id
        self.acceptor = acceptor
        self.cursor = cursor
        self._directory = directory
        self._intents = Intents(directory)
        self._sender = Sender(acceptor.session_id, self._send_failed)
        self._lock = threading.Lock()
        #: The token of the next Logon, and its grant (or the refusal QuickFIX is to send).
        self._pending: tuple[str, Grant | str] | None = None
        self._grant: Grant | None = None
        #: Grants of earlier logons, whose clients close once their requests are done.
        self._superseded: list[Grant] = []
        self._followers: dict[str, asyncio.Task[None]] = {}
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._in_flight: set[asyncio.Task[None]] = set()
        self._calls = asyncio.Semaphore(MAX_CALLS_AT_ONCE)
        #: Each grant's order entry stream (submits, cancels, replaces), by its client.
        self._entries: dict[OmsClient, EntryLine] = {}
        self.connected = False

    # -- logon (front and QuickFIX threads) ------------------------------------------------

    def expect_logon(self, grant: Grant) -> None:
        """The front verified ``grant``: the next Logon with its token may pass."""
        self._expect((grant.token, grant))

    def expect_refusal(self, token: str, text: str) -> None:
        """The next Logon (with ``token``) is refused by QuickFIX, with ``text``."""
        self._expect((token, text))

    def check_logon(self, password: str) -> str:
        """On QuickFIX's thread: "" to let the Logon in, else the Logout text."""
        with self._lock:
            pending, self._pending = self._pending, None
            if pending is None or pending[0] != password:
                return "log on through the gateway's address with a valid token"
            if isinstance(pending[1], str):
                return pending[1]
            if self._grant is not None:
                self._superseded.append(self._grant)
            self._grant = pending[1]
            return ""

    @property
    def principal(self) -> Principal | None:
        return self._grant.principal if self._grant is not None else None

    # -- QuickFIX events, on the loop --------------------------------------------------------

    def logged_on(self) -> None:
        grant = self._grant
        if grant is None:
            return
        log.info("FIX session %s logged on (%s)", self.comp_id, grant.principal.subject)
        for account in self._followed_accounts(grant):
            self._follow(account)
        with self._lock:
            superseded, self._superseded = self._superseded, []
        if superseded:
            asyncio.get_running_loop().create_task(self._retire(superseded))

    def logged_out(self) -> None:
        if self._followers:
            log.info("FIX session %s logged out", self.comp_id)
        for task in self._followers.values():
            task.cancel()
        self._followers.clear()
        self.cursor.checkpoint()

    def received(self, inbound: Inbound) -> None:
        """An order message, already read: run it in order with its ClOrdIDs' others."""
        grant = self._grant
        if grant is None:
            return
        if grant.drop_copy:
            self.send(not_authorized(inbound.seq_num, inbound.msg_type, _DROP_COPY_TEXT))
            return
        if len(self._in_flight) >= MAX_REQUESTS_IN_FLIGHT:
            self._refuse(inbound.request, "the gateway is busy: send again shortly")
            return
        keys = _keys(inbound.request)
        everything = keys == (_EVERYTHING,)
        waits = list(self._tails.values()) if everything else _present(self._tails, keys)
        task = asyncio.get_running_loop().create_task(self._after(waits, inbound.request, grant))
        self._in_flight.add(task)
        for key in keys:
            self._tails[key] = task
        task.add_done_callback(lambda done: self._finished(done, keys))

    def stored_report(self, account: str, sequence: int) -> None:
        """On QuickFIX's thread: an ExecutionReport of the stream is being stored."""
        self.cursor.stored(account, sequence)

    def send(self, message: Outgoing) -> None:
        self._sender.send(message)

    async def close(self) -> None:
        """Stop following, wait for requests in flight, hand over what is queued."""
        self.logged_out()
        for task in list(self._in_flight):
            with contextlib.suppress(BaseException):
                await task
        await asyncio.to_thread(self._sender.stop)
        for line in list(self._entries.values()):
            await line.close()
        self._entries.clear()
        if self._grant is not None:
            await self._grant.client.close()
        self.cursor.checkpoint(force=True)

    def _expect(self, pending: tuple[str, Grant | str]) -> None:
        with self._lock:
            replaced, self._pending = self._pending, pending
        if replaced is not None and isinstance(replaced[1], Grant):
            asyncio.get_running_loop().create_task(replaced[1].client.close())

    async def _retire(self, grants: list[Grant]) -> None:
        """Close the clients of earlier logons once the requests they carry are done."""
        for task in list(self._in_flight):
            with contextlib.suppress(BaseException):
                await task
        for grant in grants:
            if grant.client is not self._grant_client():
                line = self._entries.pop(grant.client, None)
                if line is not None:
                    await line.close()
                await grant.client.close()

    def _grant_client(self) -> OmsClient | None:
        return self._grant.client if self._grant is not None else None

    # -- requests ----------------------------------------------------------------------------

    async def _after(self, waits: list[asyncio.Task[None]], request: Request, grant: Grant) -> None:
        for earlier in waits:
            with contextlib.suppress(BaseException):
                await earlier
        handler = self._HANDLERS[type(request)]
        try:
            async with self._calls:
                await handler(self, request, grant)
        except _Refusal as refusal:
            self._refuse(request, refusal.text)
        except OmsError as error:
            self._refuse(request, refusal_text(error), error)
        except Exception:
            log.exception("FIX session %s: %s failed", self.comp_id, type(request).__name__)
            self._refuse(request, "the gateway failed to handle the request; see its log")

    async def _new_order(self, order: NewOrder, grant: Grant) -> None:
        account = self._account(order.account, grant)
        try:
            submit = Submit(
                account_id=account,
                client_order_id=order.cl_ord_id,
                symbol=order.symbol,
                side=order.proto_side,
                quantity=order.quantity,
                limit_price=order.price or None,
                stop_price=order.stop_px or None,
                display_quantity=order.max_floor or None,
                peg_type=order.peg_type or None,
                peg_offset=order.peg_offset or None,
                order_type=order.proto_order_type,
                time_in_force=order.proto_time_in_force,
                venue=order.venue,
                expire_time=order.expire_time,
            )
            placed = await self._entry(grant).submit(submit)
        except OmsError as error:
            self._check_token(error)
            self.send(order_rejected(order, account, ord_rej_reason(error), refusal_text(error)))
            return
        self._directory.learn_order(placed)
        self._follow(account)
        if order.poss_dup:
            self.send(order_status(placed, order.cl_ord_id))

    async def _cancel(self, request: CancelRequest, grant: Grant) -> None:
        async def cancel(facts: OrderFacts) -> None:
            self._intents.cancel(facts.order_id, Intent(request.ref.cl_ord_id, facts.cl_ord_id))
            await self._entry(grant).cancel(facts.order_id)

        await self._amend(request.ref, grant, RESPONSE_TO_CANCEL, cancel)

    async def _replace(self, request: ReplaceRequest, grant: Grant) -> None:
        async def replace(facts: OrderFacts) -> None:
            intent = Intent(request.ref.cl_ord_id, facts.cl_ord_id)
            self._intents.replace(facts.order_id, facts.account, intent)
            change = Replace(
                facts.order_id,
                quantity=request.quantity or None,
                limit_price=request.price or None,
                client_order_id=request.ref.cl_ord_id,
            )
            await self._entry(grant).replace(change)

        await self._amend(request.ref, grant, RESPONSE_TO_REPLACE, replace)

    async def _status(self, request: StatusRequest, grant: Grant) -> None:
        try:
            facts = await self._find(request.ref, grant)
            order = await grant.client.get_order(facts.order_id)
        except NotFound as error:
            self.send(unknown_order_status(request.ref, refusal_text(error)))
            return
        self.send(order_status(order, request.ref.cl_ord_id))

    async def _mass_cancel(self, request: MassCancelRequest, grant: Grant) -> None:
        if request.request_type not in MASS_CANCEL_TYPES:
            text = (
                f"MassCancelRequestType (530) {request.request_type!r} is not supported: "
                "1 (one symbol) or 7 (all orders)"
            )
            self.send(_mass_cancel_refused(request, MASS_CANCEL_NOT_SUPPORTED, text))
            return
        accounts = [request.account] if request.account else list(grant.principal.accounts)
        if not accounts:
            raise _Refusal("Account (1) is required: this token names no account")
        side = SIDE_FROM_FIX[request.side] if request.side else None
        total = 0
        for account in accounts:
            total += await grant.client.cancel_all_orders(account, symbol=request.symbol, side=side)
        self.send(mass_cancel_report(request, response=request.request_type, affected=total))

    _HANDLERS: Final[dict[type, Callable[..., Awaitable[None]]]] = {
        NewOrder: _new_order,
        CancelRequest: _cancel,
        ReplaceRequest: _replace,
        StatusRequest: _status,
        MassCancelRequest: _mass_cancel,
    }

    async def _amend(
        self,
        ref: OrderRef,
        grant: Grant,
        response_to: str,
        action: Callable[[OrderFacts], Awaitable[None]],
    ) -> None:
        """Find the order, run the cancel or replace; OrderCancelReject if either fails."""
        try:
            facts = await self._find(ref, grant)
        except OmsError as error:
            self._check_token(error)
            self.send(_cancel_rejected(ref, response_to, error, ORD_STATUS_REJECTED))
            return
        try:
            await action(facts)
        except OmsError as error:
            self._check_token(error)
            self._intents.forget(facts.order_id, facts.account)
            status = await self._ord_status(facts.order_id, grant)
            self.send(_cancel_rejected(ref, response_to, error, status, facts))

    async def _find(self, ref: OrderRef, grant: Grant) -> OrderFacts:
        """The order a cancel, replace or status request names; NotFound if none."""
        if ref.order_id:
            known = self._directory.get(ref.order_id)
            if known is not None:
                return known
            return self._directory.learn_order(await grant.client.get_order(ref.order_id))
        cl_ord_id = ref.orig_cl_ord_id or ref.cl_ord_id
        accounts = [ref.account] if ref.account else list(grant.principal.accounts)
        for account in accounts:
            known = self._directory.by_client_id(account, cl_ord_id)
            if known is not None:
                return known
        for account in accounts:
            found = await self._search(account, cl_ord_id, grant.client)
            if found is not None:
                return found
        raise NotFound(
            f"no order with ClOrdID {cl_ord_id!r}",
            code=grpc.StatusCode.NOT_FOUND,
            reason="ORDER_NOT_FOUND",
        )

    async def _search(self, account: str, cl_ord_id: str, client: OmsClient) -> OrderFacts | None:
        """Look for ``cl_ord_id`` among the account's newest orders (learning them all)."""
        seen = 0
        async for order in client.iter_orders(account, page_size=1000):
            facts = self._directory.learn_order(order)
            if order.client_order_id == cl_ord_id:
                return facts
            seen += 1
            if seen >= MAX_ORDERS_SEARCHED:
                break
        return None

    async def _ord_status(self, order_id: str, grant: Grant) -> str:
        """OrdStatus (39) of an order now, for a cancel reject (8 if it cannot be read)."""
        try:
            order = await grant.client.get_order(order_id)
        except OmsError:
            return ORD_STATUS_REJECTED
        return ORD_STATUS.get(order.state, ORD_STATUS_REJECTED)

    def _entry(self, grant: Grant) -> EntryLine:
        """The grant's order entry stream (one per logon)."""
        line = self._entries.get(grant.client)
        if line is None:
            line = self._entries[grant.client] = EntryLine(grant.client, self.comp_id)
        return line

    def _account(self, given: str, grant: Grant) -> str:
        if given:
            return given
        if len(grant.principal.accounts) == 1:
            return grant.principal.accounts[0]
        raise _Refusal("Account (1) is required: the token does not name exactly one account")

    def _refuse(self, request: Request, text: str, error: OmsError | None = None) -> None:
        """Answer a request the gateway could not carry out, as its message type wants."""
        if isinstance(request, NewOrder):
            reason = ord_rej_reason(error) if error else OTHER
            self.send(order_rejected(request, request.account, reason, text))
        elif isinstance(request, CancelRequest | ReplaceRequest):
            to = RESPONSE_TO_CANCEL if isinstance(request, CancelRequest) else RESPONSE_TO_REPLACE
            reason = cxl_rej_reason(error) if error else OTHER
            self.send(
                cancel_reject(
                    request.ref,
                    order_id="",
                    ord_status=ORD_STATUS_REJECTED,
                    response_to=to,
                    reason=reason,
                    text=text,
                )
            )
        elif isinstance(request, StatusRequest):
            self.send(unknown_order_status(request.ref, text))
        else:
            self.send(_mass_cancel_refused(request, MASS_CANCEL_OTHER, text))

    def _finished(self, task: asyncio.Task[None], keys: tuple[str, ...]) -> None:
        self._in_flight.discard(task)
        for key in keys:
            if self._tails.get(key) is task:
                del self._tails[key]

    def _check_token(self, error: OmsError) -> None:
        if error.code in _TOKEN_REFUSED:
            self.acceptor.logout(f"the OMS refused the session's token: {error.message}")

    # -- report streams ----------------------------------------------------------------------

    def _followed_accounts(self, grant: Grant) -> list[str]:
        """The token's accounts, and (for admins) every account the session traded for."""
        accounts = set(grant.principal.accounts)
        if grant.principal.is_admin:
            accounts |= set(self.cursor.accounts())
        return sorted(accounts)

    def _follow(self, account: str) -> None:
        """Send the account's reports from where the session is in its stream on."""
        grant = self._grant
        if grant is None or account in self._followers:
            return
        self.cursor.follow(account)
        task = asyncio.get_running_loop().create_task(self._stream(account, grant))
        self._followers[account] = task

    async def _stream(self, account: str, grant: Grant) -> None:
        """The account's reports as FIX, for as long as the session is logged on (the SDK
        resumes broken streams itself; a refusal is tried again, less and less often)."""
        delay_s = FOLLOW_RETRY_S
        while True:
            try:
                after = self.cursor.resume_after(account)
                async for report in grant.client.reports(account, after):
                    message = self._intents.message(report)
                    self.cursor.queued(account, report.sequence)
                    if message is not None:
                        self.send(message)
                    delay_s = FOLLOW_RETRY_S
            except OmsError as error:
                if error.code in _TOKEN_REFUSED:
                    self._check_token(error)
                    return
                log.warning(
                    "FIX session %s: stream of %s: %s",
                    self.comp_id,
                    account,
                    error,
                    extra={"account_id": account},
                )
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, MAX_FOLLOW_RETRY_S)

    def _send_failed(self, message: Outgoing) -> None:
        """On the sender's thread: a message was not stored; a report is sent again later."""
        account = message.get(1)
        if account:
            self.cursor.rewind(account)


def _keys(request: Request) -> tuple[str, ...]:
    """What a request is ordered by: its ClOrdIDs (a mass cancel: everything)."""
    if isinstance(request, MassCancelRequest):
        return (_EVERYTHING,)
    if isinstance(request, NewOrder):
        return (request.cl_ord_id,)
    ref = request.ref
    return tuple(k for k in (ref.cl_ord_id, ref.orig_cl_ord_id) if k)


def _present(
    tails: dict[str, asyncio.Task[None]], keys: tuple[str, ...]
) -> list[asyncio.Task[None]]:
    """The earlier requests on ``keys``, and a mass cancel sent before them."""
    return [tails[key] for key in (*keys, _EVERYTHING) if key in tails]


def _cancel_rejected(
    ref: OrderRef,
    response_to: str,
    error: OmsError,
    ord_status: str,
    facts: OrderFacts | None = None,
) -> Outgoing:
    return cancel_reject(
        ref,
        order_id=facts.order_id if facts else "",
        ord_status=ord_status,
        response_to=response_to,
        reason=cxl_rej_reason(error),
        text=refusal_text(error),
        account=facts.account if facts else "",
    )


def _mass_cancel_refused(request: MassCancelRequest, reason: str, text: str) -> Outgoing:
    return mass_cancel_report(
        request, response=MASS_CANCEL_REJECTED, reject_reason=reason, text=text
    )

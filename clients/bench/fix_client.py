"""A small asyncio FIX 4.4 initiator for oms-bench: logon, heartbeats, NewOrderSingle.

Just what the `fix` scenario needs: messages framed by ``clients.fix.framing`` (the
gateway's own cutter), BodyLength and CheckSum computed, outgoing sequence numbers from
1, TestRequest answered, and a heartbeat when the session was quiet for HeartBtInt. Each
NewOrderSingle waits for the first ExecutionReport of its ClOrdID; a report that rejects
it (ExecType 8), a session Reject or the session ending raises ``OmsError``, which the
bench's load loops count as errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Final

import grpc

from clients.fix.framing import Framer
from clients.sdk.errors import OmsError

BEGIN_STRING: Final = "FIX.4.4"
TARGET_COMP_ID: Final = "OMS"
SOH: Final = "\x01"
#: HeartBtInt asked for at logon, in seconds.
HEARTBEAT_S: Final = 30
#: Longest wait for the answer to a Logon or to a NewOrderSingle.
ANSWER_TIMEOUT_S: Final = 30.0
_READ_BYTES: Final = 65536

# Message types (35) this client sends or reads.
_HEARTBEAT: Final = "0"
_TEST_REQUEST: Final = "1"
_REJECT: Final = "3"
_LOGOUT: Final = "5"
_REPORT: Final = "8"
_LOGON: Final = "A"
_ORDER: Final = "D"
_BUSINESS_REJECT: Final = "j"
# Tags it reads or writes in more than one place.
_CL_ORD_ID: Final = 11
_MSG_SEQ_NUM: Final = 34
_MSG_TYPE: Final = 35
_REF_SEQ_NUM: Final = 45
_TEXT: Final = 58
_TEST_REQ_ID: Final = 112
_EXEC_TYPE: Final = 150
_EXEC_TYPE_REJECTED: Final = "8"


def encode(fields: Sequence[tuple[int, str]]) -> bytes:
    """One FIX 4.4 message of ``fields`` (header and body), with BodyLength and CheckSum."""
    body = "".join(f"{tag}={value}{SOH}" for tag, value in fields).encode()
    head = f"8={BEGIN_STRING}{SOH}9={len(body)}{SOH}".encode()
    checksum = (sum(head) + sum(body)) % 256
    return head + body + f"10={checksum:03d}{SOH}".encode()


def decode(raw: bytes) -> dict[int, str]:
    """The fields of a message by tag (the last one wins; no repeating groups here)."""
    fields: dict[int, str] = {}
    for part in raw.decode("latin-1").split(SOH):
        tag, sep, value = part.partition("=")
        if sep and tag.isdigit():
            fields[int(tag)] = value
    return fields


def sending_time() -> str:
    """UTCTimestamp with milliseconds, as SendingTime (52) wants it."""
    now = time.time()
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}"


@dataclass(frozen=True, slots=True)
class LimitOrder:
    """The fields of a NewOrderSingle: a limit order (DAY unless ``time_in_force``)."""

    cl_ord_id: str
    account: str
    symbol: str
    side: str
    quantity: str
    price: str
    #: FIX TimeInForce (59): 0 DAY, 3 IOC.
    time_in_force: str = "0"

    def fields(self) -> list[tuple[int, str]]:
        return [
            (11, self.cl_ord_id),
            (1, self.account),
            (55, self.symbol),
            (54, self.side),
            (38, self.quantity),
            (40, "2"),
            (44, self.price),
            (59, self.time_in_force),
            (60, sending_time()),
        ]


class FixSessionClient:
    """One FIX session over TCP, speaking as ``sender`` to TargetCompID OMS."""

    def __init__(self, sender: str, target: str = TARGET_COMP_ID) -> None:
        self.sender = sender
        self.target = target
        self._next_seq = 1
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._framer = Framer()
        self._waiting: dict[str, asyncio.Future[dict[int, str]]] = {}
        #: By MsgSeqNum: which ClOrdID each NewOrderSingle carried (for session Rejects).
        self._sent_orders: dict[int, str] = {}
        self._logged_on: asyncio.Future[dict[int, str]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._last_sent = time.monotonic()
        self._closed: str | None = None

    @property
    def in_flight(self) -> int:
        """NewOrderSingles sent and not answered yet."""
        return len(self._waiting)

    async def connect(self, host: str, port: int, password: str) -> None:
        """Connect and log on with Password (554) = ``password``; OmsError if refused."""
        self._reader, self._writer = await asyncio.open_connection(host, port)
        loop = asyncio.get_running_loop()
        self._logged_on = loop.create_future()
        self._tasks = [
            asyncio.create_task(self._read_forever()),
            asyncio.create_task(self._heartbeat_forever()),
        ]
        self._send(_LOGON, [(98, "0"), (108, str(HEARTBEAT_S)), (554, password)])
        await asyncio.wait_for(asyncio.shield(self._logged_on), ANSWER_TIMEOUT_S)

    async def new_order(self, order: LimitOrder) -> dict[int, str]:
        """Send a NewOrderSingle; the first ExecutionReport for it (OmsError if it rejects)."""
        if self._closed is not None:
            raise OmsError(self._closed, code=grpc.StatusCode.UNAVAILABLE)
        future: asyncio.Future[dict[int, str]] = asyncio.get_running_loop().create_future()
        self._waiting[order.cl_ord_id] = future
        seq = self._send(_ORDER, order.fields())
        self._sent_orders[seq] = order.cl_ord_id
        try:
            report = await asyncio.wait_for(future, ANSWER_TIMEOUT_S)
        except TimeoutError:
            raise OmsError(
                f"no ExecutionReport for {order.cl_ord_id}", code=grpc.StatusCode.DEADLINE_EXCEEDED
            ) from None
        finally:
            self._waiting.pop(order.cl_ord_id, None)
            self._sent_orders.pop(seq, None)
        if report.get(_MSG_TYPE) != _REPORT or report.get(_EXEC_TYPE) == _EXEC_TYPE_REJECTED:
            text = report.get(_TEXT, "rejected")
            raise OmsError(f"{order.cl_ord_id}: {text}", code=grpc.StatusCode.FAILED_PRECONDITION)
        return report

    async def close(self) -> None:
        """Log out (waiting briefly for the answer) and close the connection."""
        writer = self._writer
        if writer is None:
            return
        if self._closed is None and not writer.is_closing():
            self._send(_LOGOUT, [])
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            reader = self._tasks[0] if self._tasks else None
            if reader is not None:
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(reader), 2.0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
        self._writer = None

    def _send(self, msg_type: str, body: Sequence[tuple[int, str]]) -> int:
        assert self._writer is not None
        seq = self._next_seq
        self._next_seq += 1
        header = [
            (_MSG_TYPE, msg_type),
            (49, self.sender),
            (56, self.target),
            (_MSG_SEQ_NUM, str(seq)),
            (52, sending_time()),
        ]
        self._writer.write(encode([*header, *body]))
        self._last_sent = time.monotonic()
        return seq

    async def _read_forever(self) -> None:
        assert self._reader is not None
        reason = "the gateway closed the connection"
        try:
            while data := await self._reader.read(_READ_BYTES):
                for raw in self._framer.feed(data):
                    if not self._receive(decode(raw)):
                        reason = "the session logged out"
                        return
        except (ConnectionError, OSError) as exc:
            reason = f"the connection failed: {exc}"
        finally:
            self._end(reason)

    def _receive(self, fields: dict[int, str]) -> bool:
        """Handle one message; False once the session is over (Logout)."""
        msg_type = fields.get(_MSG_TYPE)
        if msg_type == _REPORT:
            future = self._waiting.get(fields.get(_CL_ORD_ID, ""))
            if future is not None and not future.done():
                future.set_result(fields)
        elif msg_type == _TEST_REQUEST:
            self._send(_HEARTBEAT, [(_TEST_REQ_ID, fields.get(_TEST_REQ_ID, ""))])
        elif msg_type in (_REJECT, _BUSINESS_REJECT):
            cl_ord_id = self._sent_orders.get(int(fields.get(_REF_SEQ_NUM, "0") or 0))
            future = self._waiting.get(cl_ord_id or "")
            if future is not None and not future.done():
                future.set_result(fields)
        elif msg_type == _LOGON:
            if self._logged_on is not None and not self._logged_on.done():
                self._logged_on.set_result(fields)
        elif msg_type == _LOGOUT:
            self._closed = f"logged out: {fields.get(_TEXT, '')}"
            return False
        return True

    async def _heartbeat_forever(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S / 2)
            if time.monotonic() - self._last_sent >= HEARTBEAT_S / 2:
                self._send(_HEARTBEAT, [])

    def _end(self, reason: str) -> None:
        """The session is over: every waiting order (and a pending logon) fails."""
        self._closed = self._closed or reason
        error = OmsError(self._closed, code=grpc.StatusCode.UNAVAILABLE)
        if self._logged_on is not None and not self._logged_on.done():
            self._logged_on.set_exception(error)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(error)


@contextlib.asynccontextmanager
async def fix_sessions(
    host: str, port: int, senders: Sequence[str], passwords: Sequence[str]
) -> AsyncIterator[list[FixSessionClient]]:
    """A logged-on session per SenderCompID in ``senders``, each with its password (the
    n-th of ``passwords``); each logs out on exit."""
    sessions = [FixSessionClient(sender) for sender in senders]
    try:
        logons = (s.connect(host, port, p) for s, p in zip(sessions, passwords, strict=True))
        await asyncio.gather(*logons)
        yield sessions
    finally:
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)


def least_busy(sessions: Sequence[FixSessionClient]) -> tuple[int, FixSessionClient]:
    """The session with the fewest orders in flight (the first of those tied), and its
    index in ``sessions``."""
    n = min(range(len(sessions)), key=lambda k: sessions[k].in_flight)
    return n, sessions[n]

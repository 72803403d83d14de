"""The gateway's listening socket: each connection's Logon, then a splice to QuickFIX.

A connection must send a Logon first, within the logon timeout and under the size
limit; the front reads it (QuickFIX parses and checks its checksum), has the token
verified, and splices the connection to the QuickFIX acceptor of its SenderCompID. What
the client sends after that is cut into messages by the framer on the way (an oversized
or garbled stream gets a Logout from the session and the connection closes); what
QuickFIX sends goes back as it is. A refused logon with no session here gets a Logout
(5) with the reason from the front, and nothing is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from clients.fix.admission import Refused
from clients.fix.config import FixConfig
from clients.fix.engine import fix, logout_message
from clients.fix.framing import Framer, FramingError
from clients.fix.protocol import BEGIN_STRING, MsgType, Tag
from clients.fix.session import FixSession

log = logging.getLogger(__name__)

READ_CHUNK_BYTES: Final = 64 * 1024
#: How long QuickFIX's acceptor of a new session gets to start listening.
UPSTREAM_CONNECT_TIMEOUT_S: Final = 5.0
UPSTREAM_CONNECT_RETRY_S: Final = 0.01
#: After a Logout asked for by the front, how long the session gets to send it.
LOGOUT_GRACE_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class Logon:
    """The fields of a Logon the front needs."""

    begin_string: str
    sender: str
    target: str
    password: str


#: Verifies a logon; the session it may open, or Refused.
Admit = Callable[[Logon], Awaitable[FixSession]]


class Front:
    """Accepts FIX connections on ``config.host:config.port``."""

    def __init__(self, config: FixConfig, admit: Admit) -> None:
        self._config = config
        self._admit = admit
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._pending_logons = 0
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self._config.host, self._config.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def stop_listening(self) -> None:
        """Take no new connections (the spliced ones carry on, for their Logout)."""
        if self._server is not None:
            self._server.close()

    async def stop(self) -> None:
        """Close every connection."""
        self.stop_listening()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(BaseException):
                await task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # stop() ends the connections; the server's callback must not fail
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._pending_logons >= self._config.max_pending_logons:
            return
        framer = Framer(self._config.max_message_bytes)
        self._pending_logons += 1
        try:
            first = await asyncio.wait_for(
                _first_messages(reader, framer), self._config.logon_timeout_s
            )
            logon = _logon(first[0]) if first else None
            if logon is None:
                return
            session = await self._admitted(logon, writer)
        except (TimeoutError, FramingError):
            return
        finally:
            self._pending_logons -= 1
        if session is not None:
            await self._splice(reader, writer, session, first, framer)

    async def _admitted(self, logon: Logon, writer: asyncio.StreamWriter) -> FixSession | None:
        """The session the logon opens, or None once the front has answered it."""
        try:
            if logon.begin_string != BEGIN_STRING:
                raise Refused(f"Incorrect BeginString: this gateway speaks {BEGIN_STRING}")
            session = await self._admit(logon)
        except Refused as refused:
            log.info("FIX logon of %r refused: %s", logon.sender[:64], refused.text)
            writer.write(logout_message(logon.sender[:64] or "?", refused.text, _now()))
            await writer.drain()
            return None
        if session.connected:
            log.info("FIX logon of %s refused: already connected", session.comp_id)
            return None
        return session

    async def _splice(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        session: FixSession,
        first: list[bytes],
        framer: Framer,
    ) -> None:
        up_reader, up_writer = await _connect(session.acceptor.port)
        session.connected = True
        try:
            up_writer.write(b"".join(first))
            inbound = asyncio.ensure_future(
                self._client_to_session(reader, up_writer, framer, session)
            )
            outbound = asyncio.ensure_future(_copy(up_reader, writer))
            try:
                await asyncio.wait([inbound, outbound], return_when=asyncio.FIRST_COMPLETED)
            finally:
                inbound.cancel()
                outbound.cancel()
        finally:
            session.connected = False
            up_writer.close()
            with contextlib.suppress(Exception):
                await up_writer.wait_closed()

    async def _client_to_session(
        self,
        reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
        framer: Framer,
        session: FixSession,
    ) -> None:
        """Forward whole messages until the client goes away. On bad input, the session
        sends a Logout and disconnects; what the client sends meanwhile is read and
        dropped, so that it gets the Logout rather than a reset connection."""
        while data := await reader.read(READ_CHUNK_BYTES):
            try:
                messages = framer.feed(data)
            except FramingError as bad:
                log.info("FIX session %s: %s", session.comp_id, bad.text)
                await asyncio.to_thread(session.acceptor.logout, bad.text)
                await _discard(reader, LOGOUT_GRACE_S)
                return
            if messages:
                up_writer.write(b"".join(messages))
                await up_writer.drain()


async def _first_messages(reader: asyncio.StreamReader, framer: Framer) -> list[bytes]:
    """The first whole message(s) a connection sends ([] if it closes first)."""
    while data := await reader.read(READ_CHUNK_BYTES):
        messages = framer.feed(data)
        if messages:
            return messages
    return []


def _logon(raw: bytes) -> Logon | None:
    """The Logon in ``raw``; None if it is not one or fails QuickFIX's checks."""
    try:
        message = fix.Message(raw.decode("latin-1"), True)
        header = message.getHeader()
        if header.getField(Tag.MSG_TYPE) != MsgType.LOGON:
            return None
        password = message.getField(Tag.PASSWORD) if message.isSetField(Tag.PASSWORD) else ""
        return Logon(
            begin_string=str(header.getField(Tag.BEGIN_STRING)),
            sender=str(header.getField(Tag.SENDER_COMP_ID)),
            target=str(header.getField(Tag.TARGET_COMP_ID)),
            password=str(password),
        )
    except Exception:
        return None


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to a session's acceptor, waiting for it to listen (it binds on its own)."""
    deadline = time.monotonic() + UPSTREAM_CONNECT_TIMEOUT_S
    while True:
        try:
            return await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(UPSTREAM_CONNECT_RETRY_S)


async def _discard(reader: asyncio.StreamReader, timeout_s: float) -> None:
    """Read and drop what the client sends, until it closes or ``timeout_s`` passes."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            while await reader.read(READ_CHUNK_BYTES):
                pass


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(READ_CHUNK_BYTES):
        writer.write(data)
        await writer.drain()


def _now() -> str:
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime())

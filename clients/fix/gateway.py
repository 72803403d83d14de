"""The FIX 4.4 order-entry gateway: a client of the OMS's gRPC API that speaks FIX.

``FixGateway(config)``: ``await start()`` listens on ``config.host:config.port``;
``await stop()`` logs every session out and keeps their state (``config.state_dir``:
QuickFIX stores, logs and each session's report cursor) for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Final

from clients.fix.admission import Grant, Refused, check_comp_ids, is_drop_copy, verify
from clients.fix.application import GatewayApplication
from clients.fix.config import FixConfig
from clients.fix.cursor import ReportCursor
from clients.fix.engine import ClientAcceptor, StorePaths
from clients.fix.front import Front, Logon
from clients.fix.orders import OrderDirectory
from clients.fix.protocol import GATEWAY_COMP_ID
from clients.fix.session import FixSession

log = logging.getLogger(__name__)

#: How often each session's report cursor is checkpointed (when it moved).
CHECKPOINT_INTERVAL_S: Final = 1.0


class FixGateway:
    """FIX sessions in front of the OMS at ``config.target``."""

    def __init__(self, config: FixConfig) -> None:
        self.config = config
        self._paths = StorePaths(config.state_dir)
        self._sessions: dict[str, FixSession] = {}
        self._opening: dict[str, asyncio.Future[FixSession]] = {}
        self._directory = OrderDirectory()
        self._front = Front(config, self._admit)
        self._application: GatewayApplication | None = None
        self._checkpoints: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        """host:port the gateway listens on (the port it got, if asked for port 0)."""
        return f"{self.config.host}:{self._front.port}"

    @property
    def port(self) -> int:
        return self._front.port

    async def start(self) -> None:
        self._paths.create()
        self._application = GatewayApplication(self._sessions, asyncio.get_running_loop())
        await self._front.start()
        self._checkpoints = asyncio.ensure_future(self._checkpoint_forever())
        log.info("FIX gateway on %s for the OMS at %s", self.address, self.config.target)

    async def stop(self) -> None:
        """Log every session out (each gets its Logout), keep their state, stop."""
        self._front.stop_listening()
        if self._checkpoints is not None:
            self._checkpoints.cancel()
        await asyncio.gather(*(self._close(s) for s in self._sessions.values()))
        self._sessions.clear()
        await self._front.stop()

    def session(self, comp_id: str) -> FixSession | None:
        return self._sessions.get(comp_id)

    async def _admit(self, logon: Logon) -> FixSession:
        """Verify a logon; the session it opens (its token expected), or Refused."""
        check_comp_ids(logon.sender, logon.target, GATEWAY_COMP_ID)
        existing = self._sessions.get(logon.sender)
        try:
            principal, client = await verify(
                logon.sender, logon.password, self.config.target, self.config.tls
            )
        except Refused as refused:
            if existing is None:
                raise
            # QuickFIX answers it, with the session's own sequence numbers.
            existing.expect_refusal(logon.password, refused.text)
            return existing
        session = existing or await self._open(logon.sender)
        session.expect_logon(Grant(logon.password, principal, client, is_drop_copy(logon.sender)))
        return session

    async def _open(self, comp_id: str) -> FixSession:
        """The session of ``comp_id``, its acceptor started (once, however many ask)."""
        opening = self._opening.get(comp_id)
        if opening is not None:
            return await asyncio.shield(opening)
        if len(self._sessions) >= self.config.max_sessions:
            raise Refused("the gateway holds as many sessions as it may; try later")
        future: asyncio.Future[FixSession] = asyncio.get_running_loop().create_future()
        self._opening[comp_id] = future
        try:
            session = await asyncio.to_thread(self._new_session, comp_id)
            self._sessions[comp_id] = session
            session.acceptor.start()
            future.set_result(session)
            return session
        except BaseException as error:
            future.set_exception(error)
            future.exception()
            raise
        finally:
            del self._opening[comp_id]

    def _new_session(self, comp_id: str) -> FixSession:
        """Off the loop: recover the cursor from the store, create the acceptor."""
        assert self._application is not None
        cursor = ReportCursor.recover(
            self._paths.cursor_file(comp_id), self._paths.store_prefix(comp_id)
        )
        acceptor = ClientAcceptor(self._application, comp_id, _free_port(), self._paths)
        return FixSession(comp_id, acceptor, cursor, self._directory)

    async def _close(self, session: FixSession) -> None:
        """Store what is on its way to the session, then log it out and free it."""
        await session.close()
        await asyncio.to_thread(session.acceptor.stop)

    async def _checkpoint_forever(self) -> None:
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL_S)
            for session in list(self._sessions.values()):
                with contextlib.suppress(OSError):
                    session.cursor.checkpoint()


def _free_port() -> int:
    """A loopback port nothing listens on now (the session's acceptor takes it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

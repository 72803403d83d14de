"""The QuickFIX application of the gateway: callbacks that hand work to the event loop.

QuickFIX calls these on its own threads. They read fields and queue the request on the
loop (``call_soon_threadsafe``): none waits for the API. An exception other than the few
QuickFIX turns into a protocol answer would end the process (the SWIG bindings call
``Py_Exit``), so each callback keeps its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from clients.fix.engine import fix
from clients.fix.inbound import BadField, Problem, read_request
from clients.fix.protocol import ORDER_MESSAGES, MsgType, Tag
from clients.fix.sender import oms_sequence
from clients.fix.session import FixSession, Inbound

log = logging.getLogger(__name__)

#: The QuickFIX exception for each problem with a field (QuickFIX answers each one).
_REFUSAL_OF_PROBLEM: Final[dict[Problem, Callable[[int], Exception]]] = {
    Problem.MISSING: fix.FieldNotFound,
    Problem.VALUE: fix.IncorrectTagValue,
    Problem.FORMAT: fix.IncorrectDataFormat,
}


class GatewayApplication(fix.Application):
    """Routes each QuickFIX session's events to its ``FixSession``."""

    def __init__(self, sessions: Mapping[str, FixSession], loop: asyncio.AbstractEventLoop):
        super().__init__()
        self._sessions = sessions
        self._loop = loop

    def onCreate(self, session_id: Any) -> None:
        pass

    def onLogon(self, session_id: Any) -> None:
        self._on_loop(session_id, FixSession.logged_on)

    def onLogout(self, session_id: Any) -> None:
        self._on_loop(session_id, FixSession.logged_out)

    def toAdmin(self, message: Any, session_id: Any) -> None:
        pass

    def fromAdmin(self, message: Any, session_id: Any) -> None:
        if message.getHeader().getField(Tag.MSG_TYPE) != MsgType.LOGON:
            return
        try:
            refusal = self._logon_refusal(message, session_id)
        except Exception:
            log.exception("FIX logon check failed")
            refusal = "the gateway failed to check the logon"
        if refusal:
            raise fix.RejectLogon(refusal)

    def toApp(self, message: Any, session_id: Any) -> None:
        try:
            found = oms_sequence(message)
            session = self._session(session_id)
            if found is not None and session is not None:
                session.stored_report(*found)
        except Exception:
            log.exception("FIX toApp failed")

    def fromApp(self, message: Any, session_id: Any) -> None:
        try:
            header = message.getHeader()
            msg_type = str(header.getField(Tag.MSG_TYPE))
            if msg_type not in ORDER_MESSAGES:
                refusal: Exception | None = fix.UnsupportedMessageType()
            else:
                refusal = self._receive(message, header, msg_type, session_id)
        except Exception:
            log.exception("FIX fromApp failed")
            refusal = None
        if refusal is not None:
            raise refusal

    def _receive(
        self, message: Any, header: Any, msg_type: str, session_id: Any
    ) -> Exception | None:
        """Queue the request on its session; the QuickFIX refusal if a field is bad."""
        poss_dup = (
            header.isSetField(Tag.POSS_DUP_FLAG) and header.getField(Tag.POSS_DUP_FLAG) == "Y"
        )

        def field(tag: int) -> str | None:
            return str(message.getField(tag)) if message.isSetField(tag) else None

        try:
            request = read_request(msg_type, field, poss_dup)
        except BadField as bad:
            return _REFUSAL_OF_PROBLEM[bad.problem](bad.tag)
        inbound = Inbound(msg_type, str(header.getField(Tag.MSG_SEQ_NUM)), request)
        session = self._session(session_id)
        if session is not None:
            self._loop.call_soon_threadsafe(session.received, inbound)
        return None

    def _logon_refusal(self, message: Any, session_id: Any) -> str:
        session = self._session(session_id)
        if session is None:
            return "unknown session"
        password = str(message.getField(Tag.PASSWORD)) if message.isSetField(Tag.PASSWORD) else ""
        return session.check_logon(password)

    def _session(self, session_id: Any) -> FixSession | None:
        return self._sessions.get(str(session_id.getTargetCompID().getValue()))

    def _on_loop(self, session_id: Any, event: Callable[[FixSession], None]) -> None:
        try:
            session = self._session(session_id)
            if session is not None:
                self._loop.call_soon_threadsafe(event, session)
        except Exception:
            log.exception("FIX session event failed")

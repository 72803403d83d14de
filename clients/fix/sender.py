"""A session's sender: one thread that hands messages to QuickFIX, in order.

QuickFIX's send stores the message and writes it to the socket under the session's
lock, which can wait on a slow client; the event loop (which may be the OMS's own, under
``oms up``) only queues. A message sent while the session is logged out is stored and
goes out when the client asks for the gap after its next logon.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Final

from clients.fix.engine import fix
from clients.fix.outbound import Outgoing
from clients.fix.protocol import Tag

log = logging.getLogger(__name__)

#: How long stop() waits for the queued messages to be handed over.
DRAIN_TIMEOUT_S: Final = 5.0
_STOP: Final = object()


class Sender:
    """Sends ``Outgoing`` messages to one QuickFIX session from a thread of its own."""

    def __init__(self, session_id: Any, on_failed: Callable[[Outgoing], None]) -> None:
        self._session_id = session_id
        self._on_failed = on_failed
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, name=f"fix-sender-{session_id.getTargetCompID().getValue()}"
        )
        self._thread.daemon = True
        self._thread.start()

    def send(self, message: Outgoing) -> None:
        """Queue ``message`` (never blocks)."""
        self._queue.put(message)

    def stop(self) -> None:
        """Hand over what is queued, then end the thread (blocks: call it off the loop)."""
        self._queue.put(_STOP)
        self._thread.join(DRAIN_TIMEOUT_S)

    def _run(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            assert isinstance(item, Outgoing)
            try:
                sent = bool(fix.Session.sendToTarget(to_quickfix(item), self._session_id))
            except Exception:
                log.exception("FIX send to %s failed", self._session_id.toString())
                sent = False
            if not sent:
                self._on_failed(item)


def to_quickfix(message: Outgoing) -> Any:
    """The QuickFIX message of ``message`` (its header is filled in by the session)."""
    built = fix.Message()
    built.getHeader().setField(fix.MsgType(message.msg_type))
    for tag, value in message.fields:
        built.setField(tag, value)
    return built


def oms_sequence(message: Any) -> tuple[str, int] | None:
    """(account, OMS sequence) of an ExecutionReport of the stream, else None."""
    if not message.isSetField(Tag.OMS_SEQUENCE) or not message.isSetField(Tag.ACCOUNT):
        return None
    return str(message.getField(Tag.ACCOUNT)), int(message.getField(Tag.OMS_SEQUENCE))

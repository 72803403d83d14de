"""QuickFIX (the ``quickfix-tls`` wheel), imported once, and the acceptor of one client.

QuickFIX C++ accepts only the sessions its settings list when it starts, so the gateway
runs one acceptor per client SenderCompID, on a loopback port of its own, and its front
(``front.py``) splices each verified connection to it. Each acceptor keeps the session's
sequence numbers and sent messages in a FileStore, never reset (NonStopSession=Y,
ResetOn*=N), so a session resumes across reconnects and gateway restarts, and answers
ResendRequest from the store (PossDupFlag=Y, or SequenceReset-GapFill for session
messages).
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clients.fix.protocol import BEGIN_STRING, GATEWAY_COMP_ID


def _import_quickfix() -> Any:
    """Import QuickFIX, keeping Python's SIGINT handler: the module's initialisation
    resets SIGINT to the default (the process would die on Ctrl-C without cleanup)."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if in_main_thread else None
    import quickfix

    if handler is not None:
        signal.signal(signal.SIGINT, handler)
    return quickfix


#: The QuickFIX module (SWIG bindings, untyped).
fix: Any = _import_quickfix()


@dataclass(frozen=True, slots=True)
class StorePaths:
    """Where a gateway keeps its sessions' FIX state."""

    root: Path

    @property
    def store_dir(self) -> Path:
        return self.root / "store"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def cursor_dir(self) -> Path:
        return self.root / "cursors"

    def store_prefix(self, client_comp_id: str) -> Path:
        """QuickFIX FileStore's file prefix of a session (``<prefix>header``, ``body``...)."""
        return self.store_dir / f"{BEGIN_STRING}-{GATEWAY_COMP_ID}-{client_comp_id}."

    def cursor_file(self, client_comp_id: str) -> Path:
        return self.cursor_dir / f"{client_comp_id}.json"

    def create(self) -> None:
        for directory in (self.store_dir, self.log_dir, self.cursor_dir):
            directory.mkdir(parents=True, exist_ok=True)


def session_id(client_comp_id: str) -> Any:
    """QuickFIX's SessionID of a client's session with the gateway."""
    return fix.SessionID(BEGIN_STRING, GATEWAY_COMP_ID, client_comp_id)


def session_settings(client_comp_id: str, port: int, paths: StorePaths) -> str:
    """The QuickFIX settings of one client's session, on a loopback ``port``."""
    return f"""
[DEFAULT]
ConnectionType=acceptor
SocketAcceptHost=127.0.0.1
SocketAcceptPort={port}
SocketReuseAddress=Y
SocketNodelay=Y
FileStorePath={paths.store_dir}
FileLogPath={paths.log_dir}
StartTime=00:00:00
EndTime=00:00:00
NonStopSession=Y
UseDataDictionary=N
ResetOnLogon=N
ResetOnLogout=N
ResetOnDisconnect=N
PersistMessages=Y
AllowedRemoteAddresses=127.0.0.1
[SESSION]
BeginString={BEGIN_STRING}
SenderCompID={GATEWAY_COMP_ID}
TargetCompID={client_comp_id}
"""


class ClientAcceptor:
    """A QuickFIX acceptor for one client CompID, listening on 127.0.0.1:``port``."""

    def __init__(self, application: Any, client_comp_id: str, port: int, paths: StorePaths):
        self.port = port
        self.session_id = session_id(client_comp_id)
        settings = fix.SessionSettings()
        settings.setFromString(session_settings(client_comp_id, port, paths))
        self._settings = settings
        self._store = fix.FileStoreFactory(settings)
        self._log = fix.FileLogFactory(settings)
        self._acceptor: Any = fix.ThreadedSocketAcceptor(
            application, self._store, settings, self._log
        )

    def start(self) -> None:
        """Start listening (QuickFIX binds on its own thread, soon after this returns)."""
        self._acceptor.start()

    def stop(self) -> None:
        """Log the session out if it is on, stop, and free the session (blocks: call it
        off the event loop). QuickFIX keeps one registry of sessions per process: a new
        acceptor for this CompID finds its own session only once this one is gone."""
        acceptor, self._acceptor = self._acceptor, None
        if acceptor is not None:
            acceptor.stop()
            del acceptor

    def logout(self, text: str) -> None:
        """Ask the session to send Logout (5) with ``text`` and then disconnect."""
        session = fix.Session.lookupSession(self.session_id)
        if session is not None:
            session.logout(text)

    def is_logged_on(self) -> bool:
        session = fix.Session.lookupSession(self.session_id)
        return bool(session is not None and session.isLoggedOn())


def logout_message(client_comp_id: str, text: str, sending_time: str) -> bytes:
    """A Logout (5) with ``text`` for a client that has no session here (MsgSeqNum 1)."""
    message = fix.Message()
    header = message.getHeader()
    header.setField(fix.BeginString(BEGIN_STRING))
    header.setField(fix.MsgType("5"))
    header.setField(fix.StringField(49, GATEWAY_COMP_ID))
    header.setField(fix.StringField(56, client_comp_id))
    header.setField(fix.StringField(34, "1"))
    header.setField(fix.StringField(52, sending_time))
    message.setField(58, text)
    return str(message.toString()).encode()

"""QuickFIX (the ``quickfix-tls`` wheel), imported once, and an initiator's settings.

The venue side imports QuickFIX itself (it may not reach into ``clients.fix``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from venues.scenario import VenueConfig

BEGIN_STRING = "FIX.4.4"


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


def session_id(config: VenueConfig) -> Any:
    """QuickFIX's SessionID of the OMS's session with a FIX venue."""
    assert config.fix is not None
    return fix.SessionID(BEGIN_STRING, config.fix.sender_comp_id, config.fix.target_comp_id)


def initiator_settings(venues: Sequence[VenueConfig], state_dir: Path, reconnect_s: int) -> str:
    """QuickFIX settings of one initiator holding a session per FIX venue.

    Sequence numbers start again at every logon (ResetOnLogon/Logout/Disconnect): nothing
    sent while the session was down is replayed later (a replayed NewOrderSingle could
    trade twice at a venue that ignores PossDupFlag). What happened meanwhile is learned
    by OrderStatusRequest for every open child after each logon; within a session, gaps
    are still filled by ResendRequest (PersistMessages=Y).
    """
    sessions = []
    for config in venues:
        endpoint = config.fix
        assert endpoint is not None
        sessions.append(
            f"""[SESSION]
BeginString={BEGIN_STRING}
SenderCompID={endpoint.sender_comp_id}
TargetCompID={endpoint.target_comp_id}
SocketConnectHost={endpoint.host}
SocketConnectPort={endpoint.port}
HeartBtInt={endpoint.heartbeat_s}
"""
        )
    return f"""[DEFAULT]
ConnectionType=initiator
ReconnectInterval={reconnect_s}
FileStorePath={state_dir / "store"}
FileLogPath={state_dir / "log"}
StartTime=00:00:00
EndTime=00:00:00
NonStopSession=Y
UseDataDictionary=N
ResetOnLogon=Y
ResetOnLogout=Y
ResetOnDisconnect=Y
PersistMessages=Y
SocketNodelay=Y
ValidateUserDefinedFields=N
""" + "".join(sessions)

"""The FIX baseline: a bare QuickFIX acceptor that answers each NewOrderSingle at once.

The same ``quickfix`` module (the quickfix-tls wheel) as the gateway, with none of its
work: no token check, no gRPC call, no store on disk (MemoryStore), no message log. Each
NewOrderSingle gets an ExecutionReport New (ExecType 0, OrdStatus 0) from the QuickFIX
thread that read it, so what is left is the ceiling of a QuickFIX Python application on
this machine, driven by the very client oms-bench drives the gateway with.

Run as ``python -c 'from clients.bench.fix_echo import main; main()' --port P
--senders A,B,...`` (QuickFIX accepts only the sessions its settings list).
"""

from __future__ import annotations

import argparse
import itertools
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, Final

from clients.fix.engine import fix

READY_LINE: Final = "FIX echo ready"
BEGIN_STRING: Final = "FIX.4.4"
ACCEPTOR_COMP_ID: Final = "OMS"
#: Tags copied from the order into its report.
_ECHOED_TAGS: Final = (11, 1, 55, 54, 38, 44)
_ORDER_QTY: Final = 38


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oms-bench-fix-echo", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="loopback port to listen on")
    parser.add_argument("--senders", required=True, help="client SenderCompIDs, comma-separated")
    args = parser.parse_args(argv)
    senders = [s for s in args.senders.split(",") if s]
    settings = fix.SessionSettings()
    settings.setFromString(acceptor_settings(args.port, senders))
    application = EchoApplication()
    store = fix.MemoryStoreFactory()
    acceptor = fix.SocketAcceptor(application, store, settings)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    acceptor.start()
    print(f"{READY_LINE}: FIX on 127.0.0.1:{args.port}", flush=True)
    while not stopping.wait(0.5):
        pass
    # Forced: no Logout sent from this thread to sessions the acceptor's own thread may
    # be disconnecting at that moment (the bench's clients log out just before it is
    # stopped); the echo once ended SIGSEGV at a stop in CI. Then the acceptor goes
    # before the application, store and settings it was made with, as the gateway's do.
    acceptor.stop(True)
    del acceptor
    return 0


def acceptor_settings(port: int, senders: Sequence[str]) -> str:
    """QuickFIX settings: one acceptor on 127.0.0.1:``port`` with a session per sender."""
    sessions = "".join(
        f"[SESSION]\nBeginString={BEGIN_STRING}\nSenderCompID={ACCEPTOR_COMP_ID}\n"
        f"TargetCompID={sender}\n"
        for sender in senders
    )
    return f"""
[DEFAULT]
ConnectionType=acceptor
SocketAcceptHost=127.0.0.1
SocketAcceptPort={port}
SocketReuseAddress=Y
SocketNodelay=Y
StartTime=00:00:00
EndTime=00:00:00
NonStopSession=Y
UseDataDictionary=N
ResetOnLogon=Y
{sessions}"""


class EchoApplication(fix.Application):
    """Answers every NewOrderSingle with an ExecutionReport New; ignores the rest."""

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)

    def onCreate(self, session_id: Any) -> None:
        pass

    def onLogon(self, session_id: Any) -> None:
        pass

    def onLogout(self, session_id: Any) -> None:
        pass

    def toAdmin(self, message: Any, session_id: Any) -> None:
        pass

    def fromAdmin(self, message: Any, session_id: Any) -> None:
        pass

    def toApp(self, message: Any, session_id: Any) -> None:
        pass

    def fromApp(self, message: Any, session_id: Any) -> None:
        # An exception escaping a QuickFIX callback ends the process: keep each here.
        try:
            if message.getHeader().getField(35) == "D":
                fix.Session.sendToTarget(self._report(message), session_id)
        except Exception as exc:
            print(f"fix echo: could not answer: {exc}", file=sys.stderr, flush=True)

    def _report(self, order: Any) -> Any:
        number = next(self._ids)
        report = fix.Message()
        report.getHeader().setField(fix.MsgType("8"))
        for tag in _ECHOED_TAGS:
            if order.isSetField(tag):
                report.setField(tag, order.getField(tag))
        quantity = order.getField(_ORDER_QTY) if order.isSetField(_ORDER_QTY) else "0"
        for tag, value in (
            (37, f"E{number}"),
            (17, f"X{number}"),
            (150, "0"),
            (39, "0"),
            (14, "0"),
            (151, quantity),
            (6, "0"),
        ):
            report.setField(tag, value)
        return report

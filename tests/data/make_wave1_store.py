"""Make tests/data/wave1_store.json: a store written by the wave-1 OMS (commit 0f5cb75).

Run once, with a checkout of 0f5cb75 first on the path, so that `oms up` and the SDK are
wave 1's (the fixture must hold what a wave-1 store really holds):

    mkdir /tmp/wave1 && git archive 0f5cb75 | tar -x -C /tmp/wave1
    cd /tmp/wave1 && PYTHONPATH=/tmp/wave1 /path/to/.venv/bin/python \\
        /path/to/tests/data/make_wave1_store.py /path/to/tests/data/wave1_store.json

It starts the whole stack on a new SQLite store and trades through the public API:
fills across venues and a sell against the position, a resting order, a cancel, a
replace, a partial fill left working, a stop waiting for its trigger, a refused order,
then a halt of account W1, and stops the stack with SIGINT before the venues answer the
halt's cancels (so W1's orders stay PENDING_CANCEL). It writes every row of every table
as JSON. Only the standard library and the wave-1 SDK are used.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from clients.sdk.client import OmsClient  # wave 1's, from the checkout on the path
from clients.sdk.errors import FailedPrecondition

#: Seconds to wait for `oms up` to print its ready line.
READY_TIMEOUT_S = 60.0
#: Seconds for the venues to answer what was just sent.
SETTLE_S = 1.5
TABLES = ("orders", "order_events", "child_orders", "executions", "accounts", "positions", "halts")


def main() -> int:
    out = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "oms.db"
        port = _free_port()
        env = {**os.environ, "OMS_DB_URL": f"sqlite+aiosqlite:///{db}"}
        env["OMS_GRPC_ADDR"] = f"127.0.0.1:{port}"
        env["OMS_AUTH_SECRET"] = "wave1-fixture-secret-0123456789abcdef"
        log = Path(tmp) / "oms.log"
        with log.open("wb") as sink:
            server = subprocess.Popen(
                [sys.executable, "-m", "oms_server.cli", "up"],
                env=env,
                cwd=tmp,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_ready(server, log)
            token = subprocess.run(
                [sys.executable, "-m", "oms_server.cli", "token", "--role", "admin"],
                env=env,
                cwd=tmp,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            asyncio.run(_trade(f"127.0.0.1:{port}", token))
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
        out.write_text(json.dumps(_dump(db), indent=1, sort_keys=True) + "\n")
    return 0


async def _trade(target: str, token: str) -> None:
    async with OmsClient(target, token) as oms:
        await oms.create_account("W1")
        await oms.deposit("W1", "2000000")

        async def order(client_id: str, account: str, symbol: str, side: str, qty: str, **price):
            return await oms.submit_order(
                account_id=account,
                symbol=symbol,
                side=side,
                quantity=qty,
                client_order_id=client_id,
                **price,
            )

        # Fills across the venues, then a sell against the position.
        await order("w1-sweep", "DEMO", "AAPL", "buy", "3000", limit_price="190.30")
        await asyncio.sleep(SETTLE_S)
        await order("w1-sell", "DEMO", "AAPL", "sell", "1200", limit_price="189.50")
        # Resting (working, its child at a venue), cancelled, replaced.
        await order("w1-rest", "DEMO", "MSFT", "buy", "100", limit_price="380.00")
        cancel = await order("w1-cancel", "DEMO", "MSFT", "buy", "50", limit_price="381.00")
        replace = await order("w1-replace", "W1", "AAPL", "buy", "40", limit_price="170.00")
        await asyncio.sleep(SETTLE_S)
        await oms.cancel_order(cancel.order_id)
        await oms.replace_order(replace.order_id, quantity="60", limit_price="171.00")
        # More than the book holds at the limit: part fills, the rest works.
        await order("w1-partial", "W1", "MSFT", "buy", "4000", limit_price="415.05")
        # A stop waiting for its trigger; a buy beyond the cash (refused by risk).
        await order("w1-stop", "DEMO", "AAPL", "sell", "10", stop_price="184.00")
        with contextlib.suppress(FailedPrecondition):
            await order("w1-too-big", "W1", "AAPL", "buy", "900000", limit_price="190.00")
        await asyncio.sleep(SETTLE_S)
        await oms.halt("W1", reason="wave-1 fixture: W1 halted, its cancels unanswered")


def _dump(db: Path) -> dict[str, list[dict[str, object]]]:
    connection = sqlite3.connect(db)
    connection.row_factory = sqlite3.Row
    try:
        return {
            table: [dict(row) for row in connection.execute(f"SELECT * FROM {table}")]
            for table in TABLES
        }
    finally:
        connection.close()


def _wait_ready(server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while "OMS ready" not in log.read_text():
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"oms up did not get ready:\n{log.read_text()}")
        time.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())

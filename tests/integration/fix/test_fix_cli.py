"""`oms fix` as users run it: the gateway alone, against the OMS at OMS_TARGET."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.support.fix_raw import RawFix
from tests.support.fixtures import RunningOms, token
from tests.support.process import free_port

pytestmark = pytest.mark.timeout(60)

READY_TIMEOUT_S = 20.0


async def test_oms_fix_trades_through_the_oms_at_oms_target_and_stops_on_sigterm(
    oms_sqlite: RunningOms, tmp_path: Path
) -> None:
    port = free_port()
    env = os.environ | {
        "OMS_TARGET": oms_sqlite.target,
        "OMS_FIX_ADDR": f"127.0.0.1:{port}",
        "OMS_STATE_DIR": str(tmp_path / "state"),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "oms_server.cli", "--log-level", "warning", "fix",
        env=env, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), READY_TIMEOUT_S)
        assert line.decode().startswith(f"FIX gateway ready on 127.0.0.1:{port}")

        desk = await RawFix(port, "CLI1").connect()
        await desk.send(desk.logon(token()))
        await desk.read_until("A")
        body = [(11, "cli-1"), (55, "AAPL"), (54, "1"), (38, "5"), (40, "2"), (44, "180")]
        await desk.send(desk.message("D", body))
        report = await desk.read_until("8")
        assert (report[11], report[150], report[1]) == ("cli-1", "0", "ACC1")
        await desk.close()
        assert (tmp_path / "state" / "fix" / "store" / "FIX.4.4-OMS-CLI1.body").exists()

        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), READY_TIMEOUT_S) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_oms_fix_refuses_to_run_when_fix_is_off() -> None:
    env = os.environ | {"OMS_FIX_ADDR": "off"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "oms_server.cli", "fix",
        env=env, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), READY_TIMEOUT_S)
    assert process.returncode == 1
    assert b"OMS_FIX_ADDR is off" in stderr

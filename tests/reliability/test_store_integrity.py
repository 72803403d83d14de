"""A corrupt page in the middle of the SQLite store is noticed at start-up (issue 26):
the OMS process refuses to start, naming the file, rather than failing clients later."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from tests.support.fixtures import TEST_SECRET, RunningOms, call_metadata
from tests.support.orders import limit_buy

pytestmark = pytest.mark.timeout(60)

ORDERS = 200
START_WAIT_S = 15.0


async def _filled_store(sqlite_url: str, state_dir: Path) -> None:
    """A real store, written by a real OMS, with enough rows for many pages."""
    oms = RunningOms(sqlite_url, state_dir)
    await oms.start()
    try:
        for i in range(ORDERS):
            await oms.orders.SubmitOrder(limit_buy(f"fill-{i}"), metadata=call_metadata())
    finally:
        await oms.stop()


def _corrupt_middle_page(path: Path) -> int:
    """Overwrite a b-tree page in the middle of the file with garbage; its number."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
    finally:
        connection.close()
    middle = pages // 2
    with path.open("r+b") as store:
        store.seek((middle - 1) * page_size)
        store.write(b"\xa5" * page_size)
    return middle


async def _start_oms_process(db_url: str, state_dir: Path) -> tuple[int, str]:
    env = {
        **os.environ,
        "OMS_DB_URL": db_url,
        "OMS_AUTH_SECRET": TEST_SECRET,
        "OMS_GRPC_ADDR": "127.0.0.1:0",
        "OMS_STATE_DIR": str(state_dir),
    }
    env.pop("NATS_URL", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "oms_server.cli",
        "server",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), START_WAIT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def test_a_corrupt_page_stops_the_oms_at_start(sqlite_url: str, tmp_path: Path) -> None:
    await _filled_store(sqlite_url, tmp_path / "state")
    path = tmp_path / "oms.db"
    _corrupt_middle_page(path)
    code, stderr = await _start_oms_process(sqlite_url, tmp_path / "state")
    assert code != 0, "the OMS started on a corrupt store"
    assert str(path) in stderr
    assert "corrupt" in stderr

"""Driving `oms up` and `oms token` as users run them: subprocesses, their output read."""

from __future__ import annotations

import asyncio
import sys


async def read_until_ready(stream: asyncio.StreamReader) -> dict[str, str]:
    """The lines `oms up` prints before its ready line, as name -> value."""
    printed: dict[str, str] = {}
    while True:
        line = (await stream.readline()).decode()
        if not line:
            raise AssertionError("oms up exited before it was ready")
        if line.startswith("OMS ready"):
            return printed
        name, _, value = line.strip().partition(" ")
        printed[name] = value.strip()


async def oms_token(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """`oms token ARGS` in ``env``: (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "oms_server.cli", "token", *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode is not None
    return process.returncode, out.decode().strip(), err.decode().strip()

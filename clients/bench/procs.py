"""Subprocesses of a run (the stack, the echo server, subscriber workers), always cleaned up.

Each child runs in its own session, so a Ctrl-C aimed at oms-bench does not reach it
half-way through a measurement; oms-bench stops it itself with SIGTERM (and checks its
exit code). Whatever is still running when the interpreter exits, on any path, is
terminated by an ``atexit`` hook: SIGTERM, then SIGKILL to its process group.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

#: How often a log file is polled for a ready line.
POLL_INTERVAL_S = 0.05
#: How long a child may take to exit after SIGTERM before it is killed.
DEFAULT_STOP_TIMEOUT_S = 20.0
#: Grace the atexit hook gives leftovers between SIGTERM and SIGKILL.
EXIT_GRACE_S = 5.0
#: Lines of a child's log quoted when it fails.
TAIL_LINES = 25

_live: dict[int, ManagedProcess | None] = {}


class BenchError(RuntimeError):
    """Anything that stops a benchmark run; prints with the oms-bench prefix."""

    def __str__(self) -> str:
        return f"oms-bench: {self.args[0]}"


class ManagedProcess:
    """A child process with its output in a log file, registered for clean-up."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, log_path: Path) -> None:
        self.name = name
        self.proc = proc
        self.log_path = log_path
        self.exit_code: int | None = None
        self.hang_report = ""

    @classmethod
    async def spawn(
        cls,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        pipes: bool = False,
    ) -> ManagedProcess:
        """Start ``argv``; with ``pipes`` its stdin and stdout are pipes, else stdout is logged."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                stdin=asyncio.subprocess.PIPE if pipes else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE if pipes else log,
                stderr=log,
                start_new_session=True,
            )
        managed = cls(name, proc, log_path)
        _live[proc.pid] = managed
        return managed

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc.returncode is None

    async def wait_for_line(self, prefix: str, timeout_s: float) -> list[str]:
        """Every log line so far, once one starts with ``prefix``; BenchError if it never does."""
        deadline = time.monotonic() + timeout_s
        while True:
            lines = self.log_lines()
            if any(line.startswith(prefix) for line in lines):
                return lines
            if not self.running:
                code = self.proc.returncode
                raise BenchError(f"{self.name} exited early ({code}):\n{self.tail()}")
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name} not ready after {timeout_s:g} s:\n{self.tail()}")
            await asyncio.sleep(POLL_INTERVAL_S)

    def log_lines(self) -> list[str]:
        try:
            return self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []

    def tail(self, lines: int = TAIL_LINES) -> str:
        return "\n".join(self.log_lines()[-lines:])

    async def stop(
        self,
        timeout_s: float = DEFAULT_STOP_TIMEOUT_S,
        on_hang: Callable[[int], Awaitable[str]] | None = None,
    ) -> int:
        """SIGTERM and wait; SIGKILL to the group if it does not exit in time. Its exit code.

        ``on_hang(pid)`` runs before the SIGKILL (to dump the stacks of a hung process);
        what it returns is kept in ``hang_report``.
        """
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout_s)
            except TimeoutError:
                if on_hang is not None:
                    self.hang_report = await on_hang(self.pid)
                _kill_group(self.pid)
                await self.proc.wait()
        _live.pop(self.pid, None)
        self.exit_code = self.proc.returncode
        return self.exit_code if self.exit_code is not None else -1

    async def stop_when_done(self, timeout_s: float) -> int:
        """Wait up to ``timeout_s`` for the process to exit by itself, then stop it."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), timeout_s)
        return await self.stop()


def register_pid(pid: int) -> None:
    """Clean up ``pid`` at exit too (a child started by other code, such as nats-server)."""
    _live[pid] = None


def forget_pid(pid: int) -> None:
    _live.pop(pid, None)


def running_children() -> list[int]:
    """Pids of the children started here that have not been stopped yet."""
    return list(_live)


def python_argv(module_code: str, *args: str) -> list[str]:
    """Run ``module_code`` (a Python snippet) in this interpreter with ``args`` as argv[1:]."""
    return [sys.executable, "-c", module_code, *args]


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This environment plus ``extra``, with the project importable from any directory."""
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def _kill_group(pid: int) -> None:
    """SIGKILL ``pid``'s process group and its descendants (nats-server has its own session)."""
    descendants = _descendants(pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for child in descendants:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(child, signal.SIGKILL)


def _descendants(pid: int) -> list[int]:
    """Pids below ``pid`` in the process tree (read from /proc; empty elsewhere)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry.parent.name))
    found: list[int] = []
    frontier = [pid]
    while frontier:
        children = parents.get(frontier.pop(), [])
        found.extend(children)
        frontier.extend(children)
    return found


def _reap(pid: int) -> bool:
    """True once ``pid`` is gone (reaped here or elsewhere)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid


@atexit.register
def _clean_up_leftovers() -> None:
    """Last resort: terminate every child still registered (SIGTERM, then SIGKILL)."""
    pids = list(_live)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + EXIT_GRACE_S
    pending = set(pids)
    while pending and time.monotonic() < deadline:
        pending = {pid for pid in pending if not _reap(pid)}
        time.sleep(POLL_INTERVAL_S)
    for pid in pending:
        _kill_group(pid)
    _live.clear()

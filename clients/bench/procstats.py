"""Memory, CPU and wake-ups of a server process, read from /proc (Linux; None elsewhere)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from clients.bench.load import LoopResult

BYTES_PER_KIB = 1024
BYTES_PER_MIB = 1024 * 1024
#: Fields of /proc/PID/stat after the command name: utime and stime (clock ticks).
_UTIME_FIELD = 11
_STIME_FIELD = 12


def rss_bytes(pid: int) -> int | None:
    """Resident set size (VmRSS of /proc/PID/status), or None if unreadable."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * BYTES_PER_KIB
    return None


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time the process has used so far, or None if unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    ticks = int(fields[_UTIME_FIELD]) + int(fields[_STIME_FIELD])
    return ticks / os.sysconf("SC_CLK_TCK")


def wakeups(pid: int) -> int | None:
    """Voluntary context switches of all the process's threads so far, or None if unreadable.

    Each is a thread going to sleep (on epoll, a lock, a queue, the disk) to be woken
    again later: the hand-offs between threads and processes that an order's path costs.
    A thread that ended takes its count with it.
    """
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    total = 0
    for thread in threads:
        try:
            text = Path(f"/proc/{pid}/task/{thread}/status").read_text()
        except OSError:
            continue  # the thread ended since the listing
        for line in text.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                total += int(line.split()[1])
                break
    return total


class CpuMeter:
    """CPU use of the server and of this client, and the server's wake-ups, over a window."""

    def __init__(self, server_pid: int | None) -> None:
        self._server = RateWindow(server_pid, cpu_seconds, digits=3)
        self._client = RateWindow(os.getpid(), cpu_seconds, digits=3)
        self._server_wakeups = RateWindow(server_pid, wakeups, digits=1)

    def start(self) -> None:
        self._server.start()
        self._client.start()
        self._server_wakeups.start()

    def stop_into(self, result: LoopResult) -> None:
        """Note the window's figures in ``result`` (None where they could not be read)."""
        result.server_cpu_cores = self._server.stop()
        result.client_cpu_cores = self._client.stop()
        result.server_wakeups_per_s = self._server_wakeups.stop()


@dataclass
class RateWindow:
    """A counter of one process per wall second over a window (None if unreadable)."""

    pid: int | None
    read: Callable[[int], float | None]
    digits: int
    _start: float | None = None
    _wall0: float = 0.0

    def start(self) -> None:
        if self.pid is not None:
            self._start = self.read(self.pid)
            self._wall0 = time.monotonic()

    def stop(self) -> float | None:
        if self.pid is None or self._start is None:
            return None
        end = self.read(self.pid)
        wall = time.monotonic() - self._wall0
        if end is None or wall <= 0:
            return None
        return round((end - self._start) / wall, self.digits)

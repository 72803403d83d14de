"""Memory and CPU of a server process, read from /proc (Linux; None elsewhere)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

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


class CpuMeter:
    """CPU use of the server and of this client over one measured window."""

    def __init__(self, server_pid: int | None) -> None:
        self._server = CpuWindow(server_pid)
        self._client = CpuWindow(os.getpid())

    def start(self) -> None:
        self._server.start()
        self._client.start()

    def stop(self) -> tuple[float | None, float | None]:
        """(server cores, client cores) over the window."""
        return self._server.stop(), self._client.stop()


@dataclass
class CpuWindow:
    """CPU use of one process over a window: ``cores`` is CPU seconds per wall second."""

    pid: int | None
    _cpu0: float | None = None
    _wall0: float = 0.0
    cores: float | None = None

    def start(self) -> None:
        if self.pid is not None:
            self._cpu0 = cpu_seconds(self.pid)
            self._wall0 = time.monotonic()

    def stop(self) -> float | None:
        if self.pid is None or self._cpu0 is None:
            return None
        cpu = cpu_seconds(self.pid)
        wall = time.monotonic() - self._wall0
        if cpu is None or wall <= 0:
            return None
        self.cores = round((cpu - self._cpu0) / wall, 3)
        return self.cores

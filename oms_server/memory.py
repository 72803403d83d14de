"""Memory given back after a burst: once the OMS has been idle a few seconds after work,
the C heap's free pages are returned to the system (glibc's ``malloc_trim``).

A burst of orders grows the heap (requests, reports, protobuf messages, batches); when
it is over CPython frees those objects, but glibc keeps the freed pages for reuse, so
the resident size stays at the burst's high-water mark. Trimming once the engine has
been idle returns them; it is not done under load (it takes the heap's lock, and pages
given back would be asked for again at once), and where the C library has no
``malloc_trim`` (not glibc) it is not done at all.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Seconds without new work after which the heap is trimmed (and how often it looks).
IDLE_S = 5.0


def _malloc_trim() -> Callable[[], None] | None:
    """glibc's ``malloc_trim(0)``, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def run() -> None:
        trim(0)

    return run


class HeapTrimmer:
    """Trims the heap once work has stopped for ``idle_s``: ``work()`` counts what was
    done so far (it changes while there is work), and a trim follows each quiet spell
    after a change, once."""

    def __init__(
        self,
        work: Callable[[], int],
        *,
        idle_s: float = IDLE_S,
        trim: Callable[[], None] | None = None,
    ) -> None:
        self._work = work
        self._idle_s = idle_s
        self._trim = trim if trim is not None else _malloc_trim()
        self._seen = work()
        #: Work was done since the last trim.
        self._dirty = False

    @property
    def available(self) -> bool:
        return self._trim is not None

    def due(self) -> bool:
        """One look: True when the count stopped moving since the last look after it had
        moved since the last trim (so: trim now)."""
        now = self._work()
        if now != self._seen:
            self._seen, self._dirty = now, True
            return False
        due, self._dirty = self._dirty, False
        return due

    async def run(self) -> None:
        """Look every ``idle_s``; trim (in a thread) when a look says it is due."""
        if self._trim is None:
            return
        while True:
            await asyncio.sleep(self._idle_s)
            if self.due():
                await asyncio.to_thread(self._trim)
                log.debug("heap trimmed after %d units of work", self._seen)

"""Waiting for conditions in tests, never with bare sleeps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

#: Default time a condition gets to become true.
DEFAULT_WAIT_S = 10.0
POLL_INTERVAL_S = 0.01


async def eventually(
    probe: Callable[[], Awaitable[T]] | Callable[[], T],
    *,
    timeout_s: float = DEFAULT_WAIT_S,
    message: str = "condition",
) -> T:
    """Poll ``probe`` until it returns a truthy value; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        result = probe()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        last = result  # type: ignore[assignment]
        await asyncio.sleep(POLL_INTERVAL_S)
    raise AssertionError(f"{message} not met within {timeout_s}s (last value {last!r})")

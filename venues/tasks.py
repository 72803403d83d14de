"""Stopping background tasks without hanging."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

log = logging.getLogger(__name__)

#: How long stopping tasks may take before we stop waiting for them.
STOP_TIMEOUT_S = 5.0


async def cancel_and_wait(tasks: Iterable[asyncio.Task[object]], what: str) -> None:
    """Cancel ``tasks`` and wait for them, at most STOP_TIMEOUT_S.

    A cancel can be lost when it races with a finishing ``asyncio.wait_for`` inside
    a library (CPython gh-86296, fixed in 3.12); such a task is cancelled again once
    and then left behind with a warning, so shutdown never hangs.
    """
    pending = {task for task in tasks if not task.done()}
    for _ in range(2):
        for task in pending:
            task.cancel()
        if not pending:
            return
        _, pending = await asyncio.wait(pending, timeout=STOP_TIMEOUT_S / 2)
    if pending:
        log.warning(
            "%s: %d tasks did not stop: %s", what, len(pending), [t.get_name() for t in pending]
        )

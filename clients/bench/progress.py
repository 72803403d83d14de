"""The progress bar of a run: one line per phase, with a live rate while load runs."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from clients.bench.load import Meter

#: How often the live figures of a phase are refreshed.
TICK_S = 0.25
REFRESHES_PER_S = 4


class RunProgress:
    """A rich progress display on stderr (or nothing, when disabled)."""

    def __init__(self, enabled: bool, console: Console | None = None) -> None:
        self._progress: Progress | None = None
        if enabled:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description:<40}"),
                BarColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[info]}"),
                console=console or Console(stderr=True),
                refresh_per_second=REFRESHES_PER_S,
            )

    def __enter__(self) -> RunProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    @contextlib.asynccontextmanager
    async def phase(
        self, description: str, duration_s: float | None = None, meter: Meter | None = None
    ) -> AsyncIterator[None]:
        """Show ``description`` while the body runs; a timed bar when ``duration_s`` is given."""
        progress = self._progress
        if progress is None:
            yield
            return
        task = progress.add_task(description, total=duration_s, info="")
        ticker = asyncio.create_task(self._tick(progress, task, duration_s, meter))
        try:
            yield
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            total = duration_s if duration_s is not None else 1
            progress.update(task, total=total, completed=total, info=_info(meter, None))

    async def _tick(
        self, progress: Progress, task: TaskID, duration_s: float | None, meter: Meter | None
    ) -> None:
        start = time.monotonic()
        while True:
            await asyncio.sleep(TICK_S)
            elapsed = time.monotonic() - start
            completed = min(elapsed, duration_s) if duration_s is not None else None
            progress.update(task, completed=completed, info=_info(meter, elapsed))


def _info(meter: Meter | None, elapsed_s: float | None) -> str:
    if meter is None:
        return ""
    text = f"{meter.done:,} done"
    if elapsed_s:
        text += f" · {meter.done / elapsed_s:,.0f}/s"
    if meter.errors:
        text += f" · {meter.errors:,} errors"
    return text

"""HeapTrimmer: the heap is trimmed once after each spell of work, never during one."""

from __future__ import annotations

import asyncio
import platform

import pytest

from oms_server.memory import HeapTrimmer
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(10)

IDLE_S = 0.01


async def test_a_trim_follows_each_quiet_spell_after_work_once() -> None:
    work, trims = [0], [0]

    def trim() -> None:
        trims[0] += 1

    trimmer = HeapTrimmer(lambda: work[0], idle_s=IDLE_S, trim=trim)
    task = asyncio.create_task(trimmer.run())
    try:
        for _ in range(20):  # work keeps coming: never trimmed meanwhile
            work[0] += 1
            await asyncio.sleep(IDLE_S / 4)
        assert trims[0] == 0
        await eventually(lambda: trims[0] == 1, timeout_s=5, message="trimmed once idle")
        await asyncio.sleep(IDLE_S * 5)
        assert trims[0] == 1  # idle on: nothing more to give back
        work[0] += 1
        await eventually(lambda: trims[0] == 2, timeout_s=5, message="trimmed after more work")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_an_idle_server_that_did_nothing_is_never_trimmed() -> None:
    trims = [0]
    trimmer = HeapTrimmer(lambda: 0, idle_s=IDLE_S, trim=lambda: trims.__setitem__(0, 1))
    task = asyncio.create_task(trimmer.run())
    await asyncio.sleep(IDLE_S * 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert trims[0] == 0


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_glibcs_malloc_trim_is_found() -> None:
    assert HeapTrimmer(lambda: 0).available

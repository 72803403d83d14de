"""HeapTrimmer: the heap is trimmed once after each spell of work, never during one."""

from __future__ import annotations

import asyncio
import platform

import pytest

from oms_server.memory import HeapTrimmer
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(10)


def test_a_trim_is_due_once_after_each_quiet_spell_never_while_work_goes_on() -> None:
    work = [0]
    trimmer = HeapTrimmer(lambda: work[0], trim=lambda: None)
    looks = []
    for done in (1, 2, 3, 3, 3, 4, 4, 4):  # what has been done at each look
        work[0] = done
        looks.append(trimmer.due())
    assert looks == [False, False, False, True, False, False, True, False]


def test_a_server_that_did_nothing_is_never_due() -> None:
    trimmer = HeapTrimmer(lambda: 0, trim=lambda: None)
    assert not any(trimmer.due() for _ in range(5))


async def test_run_trims_in_a_thread_once_the_work_stops() -> None:
    work, trims = [0], []
    trimmer = HeapTrimmer(lambda: work[0], idle_s=0.01, trim=lambda: trims.append(1))
    task = asyncio.create_task(trimmer.run())
    try:
        work[0] = 1  # some work, then none
        await eventually(lambda: trims == [1], timeout_s=5, message="trimmed once idle")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_glibcs_malloc_trim_is_found() -> None:
    assert HeapTrimmer(lambda: 0).available

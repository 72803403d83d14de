"""oms-bench's /proc readings: a server's wake-ups are counted over all its threads."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from clients.bench.procstats import wakeups

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc, which only Linux has"
)

SLEEPS = 20
TIMEOUT_S = 10.0


def test_the_sleeps_of_another_thread_count_as_wake_ups() -> None:
    slept, release = threading.Event(), threading.Event()

    def sleeper() -> None:
        pause = threading.Event()
        for _ in range(SLEEPS):
            pause.wait(0.001)  # never set: the thread sleeps and the timeout wakes it
        slept.set()
        release.wait(TIMEOUT_S)  # stay alive: an ended thread's count leaves with it

    before = wakeups(os.getpid())
    worker = threading.Thread(target=sleeper)
    worker.start()
    try:
        assert slept.wait(TIMEOUT_S)  # this thread sleeps about once meanwhile
        after = wakeups(os.getpid())
    finally:
        release.set()
        worker.join(TIMEOUT_S)
    assert before is not None and after is not None
    assert after - before >= SLEEPS


def test_a_process_that_is_gone_has_no_reading() -> None:
    assert wakeups(2**22 + 1) is None  # above the kernel's largest pid

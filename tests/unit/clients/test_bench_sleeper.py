"""The open loop's pacer: sub-millisecond sleeps on uvloop that last their delay, idle."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable

import pytest

from clients.bench.aio import run
from clients.bench.sleeper import Sleeper

pytestmark = pytest.mark.skipif(
    not Sleeper().precise, reason="precise sleeps need a timerfd (Linux only)"
)


def _on_uvloop(body: Callable[[Sleeper], Awaitable[None]]) -> None:
    """Run ``body`` with a fresh sleeper on uvloop (as oms-bench runs), then close it."""

    async def main() -> None:
        with Sleeper() as sleeper:
            await asyncio.wait_for(body(sleeper), timeout=10)

    run(main())


def test_a_sub_millisecond_sleep_lasts_its_delay() -> None:
    # asyncio.sleep(0.0003) on uvloop returns at the next loop turn, about 0.05 ms later.
    async def body(sleeper: Sleeper) -> None:
        for _ in range(20):
            started = time.perf_counter()
            await sleeper.sleep(0.0003)
            assert time.perf_counter() - started >= 0.0003

    _on_uvloop(body)


def test_waiting_leaves_the_thread_idle() -> None:
    # Turning the loop until the due time would use the thread for the whole wait.
    async def body(sleeper: Sleeper) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        for _ in range(25):
            await sleeper.sleep(0.0004)
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        assert cpu < wall / 2

    _on_uvloop(body)


def test_a_cancelled_sleep_does_not_cut_the_next_one_short() -> None:
    async def body(sleeper: Sleeper) -> None:
        cancelled = asyncio.create_task(sleeper.sleep(0.001))
        await asyncio.sleep(0)  # the timer is armed for 1 ms
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        await asyncio.sleep(0.005)  # it expires meanwhile, with nobody reading it
        started = time.perf_counter()
        await sleeper.sleep(0.02)
        assert time.perf_counter() - started >= 0.02

    _on_uvloop(body)


def test_one_task_sleeps_on_a_sleeper_at_a_time() -> None:
    async def body(sleeper: Sleeper) -> None:
        first = asyncio.create_task(sleeper.sleep(0.01))
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="one sleeping task"):
            await sleeper.sleep(0.01)
        await first

    _on_uvloop(body)


def test_close_releases_the_timer_and_a_later_sleep_opens_another() -> None:
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    async def body(sleeper: Sleeper) -> None:
        before = open_fds()
        await sleeper.sleep(0.0001)
        assert open_fds() == before + 1
        sleeper.close()
        assert open_fds() == before
        started = time.perf_counter()
        await sleeper.sleep(0.0003)
        assert time.perf_counter() - started >= 0.0003

    _on_uvloop(body)

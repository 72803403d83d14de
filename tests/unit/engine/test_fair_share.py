"""FairShare: while the writer is behind, each account is held to its share of the queue."""

from __future__ import annotations

import contextlib

from oms_server.domain.errors import ResourceExhaustedError
from oms_server.engine.fair_share import FairShare, FairShareLimits

LIMITS = FairShareLimits(target_delay_s=0.25, min_account_share=2, min_waiting=10)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def hold(share: FairShare, account: str, count: int) -> contextlib.ExitStack:
    """``count`` orders of ``account`` being worked on (until the stack is closed)."""
    stack = contextlib.ExitStack()
    for _ in range(count):
        stack.enter_context(share.admit(account))
    return stack


def refused(share: FairShare, account: str) -> bool:
    try:
        with share.admit(account):
            return False
    except ResourceExhaustedError as exc:
        assert exc.reason == "ENGINE_BUSY" and exc.metadata["account_id"] == account
        return True


def test_fewer_than_a_group_commit_waiting_are_no_queue() -> None:
    clock = Clock()
    share = FairShare(LIMITS, clock=clock)
    with hold(share, "HEAVY", 9):
        clock.now = 5.0  # one slow order (a store look-up) is not a writer behind
        assert not refused(share, "HEAVY")


def test_a_burst_is_let_in_while_the_writer_keeps_up() -> None:
    clock = Clock()
    share = FairShare(LIMITS, clock=clock)
    with hold(share, "HEAVY", 500):
        clock.now = 0.25
        assert not refused(share, "HEAVY")


def test_behind_the_writer_a_lone_heavy_account_is_refused() -> None:
    clock = Clock()
    share = FairShare(LIMITS, clock=clock)
    with hold(share, "HEAVY", 50):
        clock.now = 0.3
        assert refused(share, "HEAVY")
        assert share.waiting == 50 and share.refused == 1


def test_behind_the_writer_a_light_account_still_gets_in() -> None:
    clock = Clock()
    share = FairShare(LIMITS, clock=clock)
    with hold(share, "HEAVY", 50):
        clock.now = 0.3
        with hold(share, "LIGHT", 2):
            assert not refused(share, "LIGHT")  # 2 of 52 waiting: far under its half
            assert refused(share, "HEAVY")


def test_once_the_old_orders_are_done_everyone_gets_in_again() -> None:
    clock = Clock()
    share = FairShare(LIMITS, clock=clock)
    old = hold(share, "HEAVY", 50)
    clock.now = 0.3
    with hold(share, "LIGHT", 1):
        old.close()  # the orders that waited long are done: the oldest is LIGHT's
        assert share.delay_s() == 0 and not refused(share, "HEAVY")
    assert share.waiting == 0

"""The trigger rules of the order-type table: stop, touched, trailing (issue 21)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_server.domain.enums import Side
from oms_server.domain.order_types import TriggerRule, trail

D = Decimal


@pytest.mark.parametrize(
    ("rule", "side", "bid", "ask", "hit"),
    [
        (TriggerRule.STOP, Side.BUY, "99.98", "100.00", True),
        (TriggerRule.STOP, Side.BUY, "99.97", "99.99", False),
        (TriggerRule.STOP, Side.SELL, "100.00", "100.02", True),
        (TriggerRule.STOP, Side.SELL, "100.01", "100.03", False),
        # If-touched: the other side from a stop.
        (TriggerRule.TOUCHED, Side.BUY, "99.98", "100.00", True),
        (TriggerRule.TOUCHED, Side.BUY, "99.99", "100.01", False),
        (TriggerRule.TOUCHED, Side.SELL, "100.00", "100.02", True),
        (TriggerRule.TOUCHED, Side.SELL, "99.99", "100.01", False),
    ],
)
def test_each_rule_fires_on_its_side_of_the_trigger_price(
    rule: TriggerRule, side: Side, bid: str, ask: str, hit: bool
) -> None:
    assert rule.hit(side, D("100.00"), D(bid), D(ask)) is hit


def test_nothing_fires_on_an_empty_side() -> None:
    for rule in TriggerRule:
        assert not rule.hit(Side.BUY, D(100), D(99), None)
        assert not rule.hit(Side.SELL, D(100), None, D(101))


def test_a_trailing_trigger_starts_from_the_side_it_follows() -> None:
    assert trail(Side.SELL, D("0.50"), None, D("100.00"), D("100.02")) == D("99.50")
    assert trail(Side.BUY, D("0.50"), None, D("100.00"), D("100.02")) == D("100.52")
    assert trail(Side.SELL, D("0.50"), None, None, D("100.02")) is None


prices = st.decimals(min_value=D("0.01"), max_value=D(1000), places=2)
quotes = st.lists(st.tuples(st.none() | prices, st.none() | prices), max_size=40)


@given(side=st.sampled_from(Side), offset=prices, moves=quotes)
def test_a_trailing_trigger_never_moves_against_the_order(
    side: Side, offset: Decimal, moves: list[tuple[Decimal | None, Decimal | None]]
) -> None:
    """Property: a sell's trigger only rises, a buy's only falls, whatever the book does;
    and it is never farther than ``offset`` from the best price it followed."""
    trigger: Decimal | None = None
    for bid, ask in moves:
        moved = trail(side, offset, trigger, bid, ask)
        if trigger is not None:
            assert moved is not None
            assert moved >= trigger if side is Side.SELL else moved <= trigger
        followed = bid if side is Side.SELL else ask
        if followed is not None and moved is not None:
            assert moved >= followed - offset if side is Side.SELL else moved <= followed + offset
        trigger = moved

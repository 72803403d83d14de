"""Positions and their P&L by the average-cost method, net of fees, exact to the cent."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from oms_server.domain.accounts import Account, Position
from oms_server.domain.enums import Side

BUY, SELL = Side.BUY, Side.SELL

#: (side, qty, price, fee) -> (quantity, cost, realized by this fill, realized so far)
#: Worked by hand: a long built in two buys, part sold, sold through flat into a short,
#: and part of the short bought back.
STEPS = [
    # 100 @ 10.00 + 1.00 fee: cost 1001.00 (average 10.01)
    ((BUY, "100", "10.00", "1.00"), ("100", "1001.00", "0", "0")),
    # + 50 @ 12.00 + 0.50: cost 1601.50 (average 10.67666667)
    ((BUY, "50", "12.00", "0.50"), ("150", "1601.50", "0", "0")),
    # sell 60 of 150: releases 1601.50 x 60/150 = 640.60; 780.00 - 640.60 - 0.60 = 138.80
    ((SELL, "60", "13.00", "0.60"), ("90", "960.90", "138.80", "138.80")),
    # sell 120: closes 90 (fee 0.90): 990.00 - 960.90 - 0.90 = 28.20; opens 30 short at
    # 11.00 net of the other 0.30 of fee: cost -329.70 (average 10.99)
    ((SELL, "120", "11.00", "1.20"), ("-30", "-329.70", "28.20", "167.00")),
    # buy 10 back: releases -329.70 x 10/30 = -109.90; 109.90 - 100.00 - 0.10 = 9.80
    ((BUY, "10", "10.00", "0.10"), ("-20", "-219.80", "9.80", "176.80")),
]


def test_a_hand_computed_sequence_to_the_cent() -> None:
    position = Position()
    for (side, qty, price, fee), (quantity, cost, realized, total) in STEPS:
        assert position.apply_fill(side, D(qty), D(price), D(fee)) == D(realized)
        assert (position.quantity, position.cost) == (D(quantity), D(cost))
        assert position.realized_pnl == D(total)
    assert position.average_cost == D("10.99")
    # 20 short, marked at 10.50: 219.80 brought in, 210.00 to buy back
    assert position.unrealized_pnl(D("10.50")) == D("9.80")


def test_cash_follows_the_same_fills_and_equity_adds_up() -> None:
    account = Account("A", cash=D(10_000))
    for (side, qty, price, fee), _ in STEPS:
        account.apply_fill(side, "X", D(qty), D(price), D(fee))
    position = account.positions["X"]
    mark = D("10.50")
    unrealized = position.unrealized_pnl(mark)
    assert unrealized is not None
    # what the trades made: cash gained, plus the open quantity at the mark
    assert account.cash - D(10_000) + position.quantity * mark == position.realized_pnl + unrealized
    assert account.cash == D("10396.60")


def test_a_flat_position_has_no_cost_and_no_unrealized_pnl() -> None:
    position = Position()
    position.apply_fill(BUY, D(3), D(10), D("0.01"))
    position.apply_fill(SELL, D(1), D(11), D(0))
    position.apply_fill(SELL, D(2), D(12), D(0))
    assert (position.quantity, position.cost, position.average_cost) == (0, 0, 0)
    assert position.unrealized_pnl(None) == 0
    assert position.realized_pnl == D(1) + D(4) - D("0.01")


def test_a_ratio_that_does_not_end_is_rounded_and_the_rest_stays_in_the_cost() -> None:
    position = Position()
    position.apply_fill(BUY, D(3), D(10), D(1))  # cost 31: 10.333... each
    realized = position.apply_fill(SELL, D(1), D(11), D(0))
    assert realized == D("0.66666667")  # 11 - 10.33333333
    assert position.cost == D("20.66666667")
    assert position.cost - realized == D(31) - D(11)  # paid less received: nothing lost


@pytest.mark.parametrize(("mark", "expected"), [(None, None), (D("9.5"), D("-5.00"))])
def test_an_open_position_is_marked_when_there_is_a_mark(
    mark: D | None, expected: D | None
) -> None:
    position = Position()
    position.apply_fill(BUY, D(10), D(10), D(0))
    assert position.unrealized_pnl(mark) == expected


def test_a_maker_rebate_lowers_the_cost_basis() -> None:
    position = Position()
    position.apply_fill(BUY, D(100), D(10), D("-0.20"))
    assert position.average_cost == D("9.998")

"""A property of positions: P&L accounts for every cent the fills moved.

For any sequence of buys and sells (through flat, long and short, with fees and
rebates), at any mark: cash gained plus the open quantity at the mark equals realized
plus unrealized P&L, exactly (the amounts split off by ratio are rounded, but what
stays in the cost basis is the exact rest); the realized P&L is the sum of what each
fill realized; and a flat position holds no cost.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from oms_server.domain.accounts import Account
from oms_server.domain.enums import Side

prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000"), places=2)
fills = st.tuples(
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 500).map(Decimal),
    prices,
    st.decimals(min_value=Decimal("-1"), max_value=Decimal("5"), places=4),
)


@given(st.lists(fills, max_size=40), prices)
def test_pnl_accounts_for_every_cent(
    trades: list[tuple[Side, Decimal, Decimal, Decimal]], mark: Decimal
) -> None:
    account = Account("A")
    realized_total = Decimal(0)
    for side, qty, price, fee in trades:
        realized_total += account.apply_fill(side, "X", qty, price, fee)
    if not trades:
        return
    position = account.positions["X"]
    unrealized = position.unrealized_pnl(mark)
    assert unrealized is not None
    assert position.realized_pnl == realized_total
    assert account.cash + position.quantity * mark == position.realized_pnl + unrealized
    if position.quantity == 0:
        assert position.cost == 0 and unrealized == 0

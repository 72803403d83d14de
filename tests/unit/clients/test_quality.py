"""Execution-quality arithmetic on hand-made orders."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clients.omsctl import build_parser
from clients.quality import summarize
from protos.oms.v1 import common_pb2, order_pb2


def order(side: int, qty: str, net: str, single: str, arrival: str) -> order_pb2.Order:
    return order_pb2.Order(
        side=side,
        cum_qty=qty,
        net_avg_price=net,
        best_single_venue_price=single,
        arrival_price=arrival,
    )


def test_improvement_is_quantity_weighted_and_signed_by_side() -> None:
    orders = [
        # Buy 100: paid 99.99 net where the best single venue asked 100.00 -> +1 bps.
        order(common_pb2.SIDE_BUY, "100", "99.99", "100.00", "99.98"),
        # Sell 300: got 50.01 net where the best single venue bid 50.00 -> +2 bps.
        order(common_pb2.SIDE_SELL, "300", "50.01", "50.00", "50.02"),
        # Unfilled and unbenchmarked orders do not count.
        order(common_pb2.SIDE_BUY, "0", "0", "100", "100"),
        order(common_pb2.SIDE_BUY, "10", "100", "", ""),
    ]
    summary = summarize(orders)
    assert summary.orders == 2
    assert summary.filled_quantity == Decimal(400)
    assert summary.improvement_bps == Decimal("1.75")  # (100 x 1 + 300 x 2) / 400
    assert (summary.better, summary.same, summary.worse) == (2, 0, 0)


@pytest.mark.parametrize(
    "command",
    ["submit", "cancel", "replace", "get", "list", "events", "quality", "watch", "quotes",
     "instruments", "halt", "resume", "venues"],
)  # fmt: skip
def test_every_command_has_working_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, "--help"])
    assert exited.value.code == 0
    assert f"omsctl {command}" in capsys.readouterr().out

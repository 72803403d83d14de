"""P&L through gRPC and omsctl against three real venue simulators, through a restart.

A sequence of buys and sells at known prices and fees (the venues' static books of
THREE_VENUES) must give the hand-computed realized and unrealized P&L exactly: average
cost, net of fees, the open quantity marked at the consolidated mid.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms_server.domain.access import Role
from protos.oms.v1 import account_service_pb2 as acc
from protos.oms.v1 import (
    account_service_pb2_grpc,
    admin_service_pb2,
    admin_service_pb2_grpc,
    common_pb2,
)
from protos.venue.v1 import venue_pb2 as v
from tests.support.fixtures import call_metadata, token
from tests.support.market import Market, RoutedOms
from tests.support.omsctl import Omsctl
from tests.support.orders import limit_buy
from tests.support.reports import final_order

MD = call_metadata()
ADMIN = call_metadata(Role.ADMIN, ())
DIRECT = common_pb2.ROUTING_STRATEGY_DIRECT

# Worked by hand (taker fees: CHARLIE 0.5 bps, BRAVO 1 bps; fee = notional x bps / 10^4):
# 1. buy 100 @ 190.03 CHARLIE: fee 0.95015, cost 19003.95015
# 2. buy 100 @ 190.03 CHARLIE: fee 0.95015, cost 38007.90030 for 200 (average 190.0395015)
# 3. sell 50 @ 191.00 BRAVO: fee 0.955; releases 38007.9003 x 50/200 = 9501.975075;
#    realized 9550.00 - 9501.975075 - 0.955 = 47.069925; 150 left costing 28505.925225
# 4. sell 100 @ 189.97 CHARLIE: fee 0.94985; releases 28505.925225 x 100/150 = 19003.95015;
#    realized 18997.00 - 19003.95015 - 0.94985 = -7.90; 50 left costing 9501.975075
# Realized: 47.069925 - 7.90 = 39.169925. Consolidated mid: ALPHA's 189.99 / 190.01 =
# 190.00, so unrealized: 50 x 190.00 - 9501.975075 = -1.975075.
REALIZED = "39.169925"
UNREALIZED = "-1.975075"
AVERAGE_COST = "190.0395015"


async def trade(oms: RoutedOms, key: str, side: int, qty: str, price: str, venue: str) -> None:
    request = limit_buy(
        key, side=side, quantity=qty, limit_price=price, routing_strategy=DIRECT, venue=venue
    )
    reply = await oms.orders.SubmitOrder(request, metadata=MD)
    order = await final_order(oms, reply.order.order_id)
    assert order.state == common_pb2.ORDER_STATE_FILLED  # type: ignore[attr-defined]
    assert Decimal(order.avg_price) == Decimal(price)  # type: ignore[attr-defined]


async def aapl_position(oms: RoutedOms) -> acc.Position:
    assert oms.channel is not None
    accounts = account_service_pb2_grpc.AccountServiceStub(oms.channel)
    reply = await accounts.GetAccount(acc.GetAccountRequest(account_id="ACC1"), metadata=MD)
    (position,) = [p for p in reply.account.positions if p.symbol == "AAPL"]
    return position


async def test_realized_and_unrealized_pnl_to_the_cent_through_a_restart(
    routed_oms: RoutedOms, market: Market
) -> None:
    buy, sell = common_pb2.SIDE_BUY, common_pb2.SIDE_SELL
    await trade(routed_oms, "pnl-1", buy, "100", "190.03", "CHARLIE")
    await trade(routed_oms, "pnl-2", buy, "100", "190.03", "CHARLIE")
    bravo_bid = v.BookSnapshot(
        venue="BRAVO",
        symbol="AAPL",
        bids=[v.BookLevel(price="191.00", size="50")],
        asks=[v.BookLevel(price="191.20", size="100")],
    )
    await market.control("BRAVO", v.SimulatorControl(set_book=bravo_bid))
    await trade(routed_oms, "pnl-3", sell, "50", "191.00", "BRAVO")
    await trade(routed_oms, "pnl-4", sell, "100", "189.97", "CHARLIE")

    position = await aapl_position(routed_oms)
    expected = ("50", AVERAGE_COST, REALIZED, UNREALIZED)
    assert (
        position.quantity,
        position.average_cost,
        position.realized_pnl,
        position.unrealized_pnl,
    ) == expected

    await routed_oms.restart()
    assert await aapl_position(routed_oms) == position


async def test_omsctl_shows_pnl_and_whether_the_account_is_halted(
    routed_oms: RoutedOms, capsys: pytest.CaptureFixture[str]
) -> None:
    await trade(routed_oms, "show-1", common_pb2.SIDE_BUY, "10", "190.03", "CHARLIE")
    assert routed_oms.app is not None and routed_oms.channel is not None
    omsctl = Omsctl(routed_oms.app.address, capsys, default_token=token(Role.ADMIN, ()))
    shown = await omsctl("accounts", "show", "ACC1")
    assert shown.code == 0, shown.err
    # 10 @ 190.03 + 0.095015 fee, marked at 190.00: -0.395015
    assert cells(shown.out, "AAPL") == ["AAPL", "10", "190.0395015", "0", "-0.395015"]
    assert cells(shown.out, "halted") == ["halted", "no"]

    admin = admin_service_pb2_grpc.AdminServiceStub(routed_oms.channel)
    await admin.Halt(
        admin_service_pb2.HaltRequest(account_id="ACC1", reason="drill"), metadata=ADMIN
    )
    halted = await omsctl("--json", "accounts", "show", "ACC1")
    data = halted.json()
    assert (data["halted"], data["halt_reason"]) == (True, "drill")
    (aapl,) = data["positions"]
    assert (aapl["realized_pnl"], aapl["unrealized_pnl"]) == ("0", "-0.395015")
    shown = await omsctl("accounts", "show", "ACC1")
    assert cells(shown.out, "halted") == ["halted", "yes: drill"]


def cells(table: str, first: str) -> list[str]:
    """The cells of the row of a printed table whose first cell is ``first``."""
    for line in table.splitlines():
        row = [cell.strip() for cell in line.split("│")[1:-1]]
        if row and row[0] == first:
            return row
    raise AssertionError(f"no row {first!r} in:\n{table}")

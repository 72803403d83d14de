"""ReplaceOrder goes through the same pre-trade risk as a new order (issue 26, SEC
15c3-5), over real gRPC.

Before: a replace skipped the collar, the size and notional limits and the throttle, so
a resting sell replaced to a limit of 1.00 swept the bids. Now each is refused naming
its rule, the original order is left as it was, and the refused replace's client order
id is free for a replace that passes.
"""

from __future__ import annotations

from decimal import Decimal

import grpc
import pytest

from oms_server.domain.access import Role
from protos.oms.v1 import account_service_pb2, account_service_pb2_grpc, common_pb2
from protos.oms.v1 import order_service_pb2 as pb
from tests.support.fixtures import RunningOms, call_metadata
from tests.support.orders import error_reason, limit_buy

pytestmark = pytest.mark.timeout(60)

TRADER = call_metadata()
#: 5% around the reference (190.00): a sell below 180.50 is through the collar.
LIMITS = account_service_pb2.RiskLimits(
    allow_short=True,
    price_collar_bps="500",
    max_order_quantity="1000",
    max_order_notional="150000",
    max_orders_per_second=1000,
)


async def _set_limits(oms: RunningOms, limits: account_service_pb2.RiskLimits) -> None:
    accounts = account_service_pb2_grpc.AccountServiceStub(oms.channel)
    await accounts.SetRiskLimits(
        account_service_pb2.SetRiskLimitsRequest(account_id="ACC1", risk_limits=limits),
        metadata=call_metadata(Role.ADMIN, ()),
    )


async def _replace_reason(oms: RunningOms, request: pb.ReplaceOrderRequest) -> str:
    """The ErrorInfo reason a refused replace names ("" if it was accepted)."""
    try:
        await oms.orders.ReplaceOrder(request, metadata=TRADER, timeout=10)
    except grpc.aio.AioRpcError as exc:
        return error_reason(exc)
    return ""


async def _resting_sell(oms: RunningOms) -> str:
    sell = limit_buy("sell-1", side=common_pb2.SIDE_SELL, limit_price="195.00")
    return (await oms.orders.SubmitOrder(sell, metadata=TRADER)).order.order_id


@pytest.mark.parametrize(
    ("quantity", "limit_price", "reason"),
    [
        ("", "1.00", "RISK_PRICE_COLLAR"),  # the sweep of the bids
        ("5000", "", "RISK_MAX_ORDER_QUANTITY"),
        ("900", "", "RISK_MAX_ORDER_NOTIONAL"),  # 900 x 195.00 = 175,500
    ],
)
async def test_a_replace_is_refused_by_the_rules_a_new_order_meets(
    oms_sqlite: RunningOms, quantity: str, limit_price: str, reason: str
) -> None:
    await _set_limits(oms_sqlite, LIMITS)
    order_id = await _resting_sell(oms_sqlite)
    refused = pb.ReplaceOrderRequest(
        order_id=order_id, quantity=quantity, limit_price=limit_price, client_order_id="r-1"
    )
    assert await _replace_reason(oms_sqlite, refused) == reason
    original = await oms_sqlite.orders.GetOrder(
        pb.GetOrderRequest(order_id=order_id), metadata=TRADER
    )
    assert (Decimal(original.order.quantity), Decimal(original.order.limit_price)) == (
        Decimal(100),
        Decimal("195.00"),
    )
    assert original.order.state == common_pb2.ORDER_STATE_NEW
    assert original.order.replaced_by_order_id == ""
    passing = pb.ReplaceOrderRequest(order_id=order_id, limit_price="196.00", client_order_id="r-1")
    replaced = await oms_sqlite.orders.ReplaceOrder(passing, metadata=TRADER, timeout=10)
    assert replaced.order.client_order_id == "r-1"
    assert Decimal(replaced.order.limit_price) == Decimal("196.00")


async def test_replaces_are_held_to_the_order_rate(oms_sqlite: RunningOms) -> None:
    await _set_limits(oms_sqlite, LIMITS)
    order_id = await _resting_sell(oms_sqlite)
    await _set_limits(
        oms_sqlite,
        account_service_pb2.RiskLimits(
            allow_short=True, price_collar_bps="500", max_orders_per_second=1
        ),
    )
    reasons = []
    for n, price in enumerate(("196.00", "197.00", "198.00")):
        request = pb.ReplaceOrderRequest(
            order_id=order_id, limit_price=price, client_order_id=f"rate-{n}"
        )
        reason = await _replace_reason(oms_sqlite, request)
        reasons.append(reason)
        if not reason:
            got = await oms_sqlite.orders.GetOrder(
                pb.GetOrderRequest(order_id=order_id), metadata=TRADER
            )
            order_id = got.order.replaced_by_order_id
    assert "RISK_ORDER_RATE" in reasons, reasons
    assert set(reasons) <= {"", "RISK_ORDER_RATE"}

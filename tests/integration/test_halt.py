"""The kill switch: halt cancels working orders at every venue and refuses new ones."""

from __future__ import annotations

from decimal import Decimal

import grpc
import pytest

from oms_server.domain.access import Role
from protos.oms.v1 import admin_service_pb2 as adm
from protos.oms.v1 import admin_service_pb2_grpc, common_pb2
from protos.oms.v1 import order_service_pb2 as pb
from tests.support.fixtures import call_metadata
from tests.support.market import Market, RoutedOms
from tests.support.orders import error_reason, limit_buy
from tests.support.reports import all_final
from tests.support.waiting import eventually

MD = call_metadata()
ADMIN = call_metadata(Role.ADMIN, ())
DIRECT = common_pb2.ROUTING_STRATEGY_DIRECT


async def test_halt_cancels_at_three_venues_refuses_new_orders_and_resume_restores(
    routed_oms: RoutedOms, market: Market
) -> None:
    assert routed_oms.channel is not None
    admin = admin_service_pb2_grpc.AdminServiceStub(routed_oms.channel)
    working = []
    for venue in ("ALPHA", "BRAVO", "CHARLIE"):
        request = limit_buy(
            f"w-{venue}", quantity="100", limit_price="189.50", routing_strategy=DIRECT, venue=venue
        )
        working.append((await routed_oms.orders.SubmitOrder(request, metadata=MD)).order.order_id)

    def resting_everywhere() -> bool:
        return all(
            any(price == Decimal("189.50") for price, _ in s.engine.top_of_book("AAPL", 10).bids)
            for s in market.simulators.values()
        )

    await eventually(resting_everywhere, message="a child resting at each venue")
    with pytest.raises(grpc.aio.AioRpcError) as trader_refused:
        await admin.Halt(adm.HaltRequest(account_id="ACC1"), metadata=MD)
    assert trader_refused.value.code() == grpc.StatusCode.PERMISSION_DENIED

    halted = await admin.Halt(adm.HaltRequest(account_id="ACC1", reason="drill"), metadata=ADMIN)
    assert halted.orders_canceled == 3
    orders = await all_final(routed_oms, working)
    assert all(o.state == common_pb2.ORDER_STATE_CANCELED for o in orders)
    assert not resting_everywhere()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await routed_oms.orders.SubmitOrder(limit_buy("while-halted"), metadata=MD)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(refused.value) == "TRADING_HALTED"
    # Cancels still reach the engine while halted: answered on their merits (the halt
    # already canceled this one), never refused as TRADING_HALTED.
    with pytest.raises(grpc.aio.AioRpcError) as cancel_while_halted:
        await routed_oms.orders.CancelOrder(pb.CancelOrderRequest(order_id=working[0]), metadata=MD)
    assert error_reason(cancel_while_halted.value) == "ORDER_NOT_WORKING"
    other = call_metadata(accounts=("ACC2",))
    still_trading = await routed_oms.orders.SubmitOrder(
        limit_buy("acc2", account_id="ACC2", limit_price="189.00"), metadata=other
    )
    assert still_trading.order.state == common_pb2.ORDER_STATE_NEW  # other accounts trade on

    await routed_oms.restart()  # the halt is stored: it survives a restart
    with pytest.raises(grpc.aio.AioRpcError) as after_restart:
        await routed_oms.orders.SubmitOrder(limit_buy("after-restart"), metadata=MD)
    assert error_reason(after_restart.value) == "TRADING_HALTED"

    admin = admin_service_pb2_grpc.AdminServiceStub(routed_oms.channel)
    await admin.Resume(adm.ResumeRequest(account_id="ACC1"), metadata=ADMIN)
    resumed = await routed_oms.orders.SubmitOrder(limit_buy("resumed"), metadata=MD)
    assert resumed.order.state == common_pb2.ORDER_STATE_NEW
    await routed_oms.restart()  # the resume is stored too
    again = await routed_oms.orders.SubmitOrder(limit_buy("after-resume-restart"), metadata=MD)
    assert again.order.state == common_pb2.ORDER_STATE_NEW

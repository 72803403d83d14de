"""The fills list (ListExecutions) against three real venue simulators over NATS.

Through gRPC, the SDK and omsctl: each fill with the OMS's exec id (the one of its TRADE
report), the venue's exec id, fee and maker/taker flag; newest first, paginated,
filtered by order and symbol, only the caller's accounts, and the same after a restart.
"""

from __future__ import annotations

from decimal import Decimal

import grpc
import pytest

from clients.omsctl import EXIT_OK
from clients.sdk import OmsClient
from protos.oms.v1 import common_pb2, order_pb2
from protos.oms.v1 import order_service_pb2 as pb
from protos.venue.v1 import venue_pb2 as v
from tests.support.fixtures import call_metadata, token
from tests.support.market import Market, RoutedOms
from tests.support.omsctl import Omsctl
from tests.support.orders import limit_buy
from tests.support.reports import final_order
from tests.support.waiting import eventually

MD = call_metadata()
DIRECT = common_pb2.ROUTING_STRATEGY_DIRECT
#: The venues' fees to take liquidity (THREE_VENUES), and ALPHA's rebate to make it.
TAKER_BPS = {"ALPHA": Decimal(3), "BRAVO": Decimal(1), "CHARLIE": Decimal("0.5")}
ALPHA_MAKER_BPS = Decimal(2)
BPS = Decimal(10_000)


async def fills(oms: RoutedOms, **query: object) -> list[order_pb2.Execution]:
    """Every fill of ACC1 matching ``query``, page by page (two a page)."""
    found: list[order_pb2.Execution] = []
    token_ = ""
    while True:
        request = pb.ListExecutionsRequest(
            account_id="ACC1", page_size=2, page_token=token_, **query
        )  # type: ignore[arg-type]
        page = await oms.orders.ListExecutions(request, metadata=MD)
        assert len(page.executions) <= 2
        found.extend(page.executions)
        token_ = page.next_page_token
        if not token_:
            return found


async def trade_reports(oms: RoutedOms, order_id: str) -> list[order_pb2.ExecutionReport]:
    reply = await oms.orders.GetOrderEvents(
        pb.GetOrderEventsRequest(order_id=order_id), metadata=MD
    )
    return [e for e in reply.events if e.exec_type == common_pb2.EXEC_TYPE_TRADE]


async def sweep_order(oms: RoutedOms) -> order_pb2.Order:
    """A buy of 1,000 AAPL that takes liquidity at all three venues."""
    reply = await oms.orders.SubmitOrder(
        limit_buy("taker", quantity="1000", limit_price="190.03"), metadata=MD
    )
    order = await final_order(oms, reply.order.order_id)
    assert order.state == common_pb2.ORDER_STATE_FILLED  # type: ignore[attr-defined]
    return order  # type: ignore[return-value]


async def maker_order(oms: RoutedOms, market: Market) -> order_pb2.Order:
    """A buy of 50 MSFT resting at ALPHA, then hit by a seller: a maker fill."""
    reply = await oms.orders.SubmitOrder(
        limit_buy("maker", symbol="MSFT", quantity="50", limit_price="419.95",
                  routing_strategy=DIRECT, venue="ALPHA"),
        metadata=MD,
    )  # fmt: skip

    def resting() -> bool:
        bids = market.simulators["ALPHA"].engine.top_of_book("MSFT", 5).bids
        return any(price == Decimal("419.95") for price, _ in bids)

    await eventually(resting, message="the maker order rests at ALPHA")
    seller = v.BookSnapshot(
        venue="ALPHA", symbol="MSFT", asks=[v.BookLevel(price="419.90", size="50")]
    )
    await market.control("ALPHA", v.SimulatorControl(set_book=seller))
    order = await final_order(oms, reply.order.order_id)
    assert order.state == common_pb2.ORDER_STATE_FILLED  # type: ignore[attr-defined]
    return order  # type: ignore[return-value]


async def test_fills_list_each_venue_fill_with_fee_and_liquidity(
    routed_oms: RoutedOms, market: Market
) -> None:
    taker = await sweep_order(routed_oms)
    maker = await maker_order(routed_oms, market)
    listed = await fills(routed_oms)

    trades = [*await trade_reports(routed_oms, taker.order_id),
              *await trade_reports(routed_oms, maker.order_id)]  # fmt: skip
    by_sequence = sorted(trades, key=lambda r: r.sequence, reverse=True)
    assert [f.exec_id for f in listed] == [r.exec_id for r in by_sequence]  # newest first
    for fill, report in zip(listed, by_sequence, strict=True):
        assert (fill.order_id, fill.client_order_id, fill.symbol, fill.side) == (
            report.order_id, report.client_order_id, report.symbol, report.side
        )  # fmt: skip
        assert (fill.venue, fill.last_qty, fill.last_price) == (
            report.last_venue, report.last_qty, report.last_price
        )  # fmt: skip
        assert fill.venue_exec_id and fill.transact_time.ToNanoseconds() > 0
    assert len({f.venue_exec_id for f in listed}) == len(listed)

    maker_fill, *taker_fills = listed
    assert maker_fill.order_id == maker.order_id
    assert maker_fill.liquidity == common_pb2.LIQUIDITY_MAKER
    rebate = Decimal(maker_fill.last_qty) * Decimal(maker_fill.last_price) * ALPHA_MAKER_BPS / BPS
    assert Decimal(maker_fill.fee) == -rebate
    assert len({f.venue for f in taker_fills}) >= 2  # the order was split across venues
    assert {f.liquidity for f in taker_fills} == {common_pb2.LIQUIDITY_TAKER}
    assert sum(Decimal(f.last_qty) for f in taker_fills) == Decimal(taker.cum_qty)
    assert sum(Decimal(f.fee) for f in taker_fills) == Decimal(taker.fees)
    for f in taker_fills:
        notional = Decimal(f.last_qty) * Decimal(f.last_price)
        assert Decimal(f.fee) == notional * TAKER_BPS[f.venue] / BPS

    assert [f.exec_id for f in await fills(routed_oms, order_id=maker.order_id)] == [
        maker_fill.exec_id
    ]
    assert [f.exec_id for f in await fills(routed_oms, symbol="AAPL")] == [
        f.exec_id for f in taker_fills
    ]
    assert await fills(routed_oms, symbol="NOBOOK") == []

    await routed_oms.restart()
    assert await fills(routed_oms) == listed


async def test_fills_are_only_for_the_callers_accounts(routed_oms: RoutedOms) -> None:
    await sweep_order(routed_oms)
    other = call_metadata(accounts=("ACC2",))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await routed_oms.orders.ListExecutions(
            pb.ListExecutionsRequest(account_id="ACC1"), metadata=other
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    own = await routed_oms.orders.ListExecutions(
        pb.ListExecutionsRequest(account_id="ACC2"), metadata=other
    )
    assert list(own.executions) == []


@pytest.mark.parametrize(
    "request_",
    [
        pb.ListExecutionsRequest(account_id="ACC1", page_token="not-a-token"),
        pb.ListExecutionsRequest(account_id="ACC1", page_size=-1),
    ],
    ids=["bad-token", "negative-page-size"],
)
async def test_bad_requests_name_the_field(
    routed_oms: RoutedOms, request_: pb.ListExecutionsRequest
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await routed_oms.orders.ListExecutions(request_, metadata=MD)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_an_orders_list_token_is_no_fills_token(routed_oms: RoutedOms) -> None:
    for key in ("t1", "t2"):
        await routed_oms.orders.SubmitOrder(limit_buy(key, limit_price="189.00"), metadata=MD)
    page = await routed_oms.orders.ListOrders(
        pb.ListOrdersRequest(account_id="ACC1", page_size=1), metadata=MD
    )
    assert page.next_page_token
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await routed_oms.orders.ListExecutions(
            pb.ListExecutionsRequest(account_id="ACC1", page_token=page.next_page_token),
            metadata=MD,
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_fills_through_the_sdk_and_omsctl(
    routed_oms: RoutedOms, capsys: pytest.CaptureFixture[str]
) -> None:
    taker = await sweep_order(routed_oms)
    listed = await fills(routed_oms)
    assert routed_oms.app is not None
    async with OmsClient(routed_oms.app.address, token()) as client:
        through_sdk = [f async for f in client.iter_executions("ACC1", page_size=1)]
        page = await client.list_executions("ACC1", order_id=taker.order_id, page_size=100)
    assert through_sdk == listed
    assert list(page.executions) == listed

    omsctl = Omsctl(routed_oms.app.address, capsys, default_token=token())
    run = await omsctl("--json", "fills", "--account", "ACC1", "--all")
    assert run.code == EXIT_OK
    data = run.json()
    assert [f["exec_id"] for f in data["executions"]] == [f.exec_id for f in listed]
    assert data["executions"][0]["liquidity"] == "LIQUIDITY_TAKER"
    table = await omsctl("fills", "--account", "ACC1", "--order", taker.order_id)
    assert table.code == EXIT_OK
    assert f"{len(listed)} fills" in table.out
    assert all(f.venue_exec_id in table.out for f in listed)

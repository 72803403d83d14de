"""Contingent lists end to end (issue 21): OCO, OTO and BRACKET through gRPC against the
venue simulators over real NATS, outcomes worked out by hand, a restart mid-life."""

from __future__ import annotations

import grpc
import pytest

from clients.omsctl import EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from clients.sdk import InvalidArgument, OmsClient, Submit
from protos.oms.v1 import common_pb2 as S
from protos.oms.v1 import order_pb2
from protos.oms.v1 import order_service_pb2 as pb
from tests.integration.test_order_types import quote_everywhere, sell_into, slice_shown
from tests.support.fixtures import call_metadata, token
from tests.support.market import Market, RoutedOms
from tests.support.omsctl import Omsctl
from tests.support.orders import field_violations, limit_buy
from tests.support.reports import final_order, order_events
from tests.support.waiting import eventually

MD = call_metadata()


def order_list(
    contingency: int, *orders: pb.SubmitOrderRequest, list_client_id: str = "list-1"
) -> pb.SubmitOrderListRequest:
    return pb.SubmitOrderListRequest(
        account_id="ACC1",
        list_client_id=list_client_id,
        contingency_type=contingency,
        orders=list(orders),
    )


def bracket(quantity: str = "100") -> pb.SubmitOrderListRequest:
    """Buy at 190.00 (inside every spread: it rests); take profit: sell at 191.00; stop
    loss: sell stop at 189.00."""
    return order_list(
        S.CONTINGENCY_TYPE_BRACKET,
        limit_buy("entry", quantity=quantity),
        limit_buy("tp", quantity=quantity, side=S.SIDE_SELL, limit_price="191.00"),
        limit_buy(
            "sl",
            quantity=quantity,
            side=S.SIDE_SELL,
            order_type=S.ORDER_TYPE_STOP,
            limit_price="",
            stop_price="189.00",
        ),
    )


async def order_of(oms: RoutedOms, order_id: str) -> order_pb2.Order:
    return (await oms.orders.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=MD)).order


async def becomes(oms: RoutedOms, order_id: str, state: int, quantity: str = "") -> None:
    async def there() -> bool:
        order = await order_of(oms, order_id)
        return order.state == state and (not quantity or order.quantity == quantity)

    await eventually(there, message=f"order {order_id} {S.OrderState.Name(state)} {quantity}")


async def test_an_oco_leg_filling_cancels_the_other(routed_oms: RoutedOms, market: Market) -> None:
    """Buy 100 at 190.00 or 100 at 189.50: a seller at 190.00 fills the first; the
    second is canceled by the list, with why."""
    request = order_list(
        S.CONTINGENCY_TYPE_OCO, limit_buy("a"), limit_buy("b", limit_price="189.50")
    )
    reply = await routed_oms.orders.SubmitOrderList(request, metadata=MD)
    first, second = reply.orders
    assert first.list_id == second.list_id == reply.list_id != ""
    assert (first.state, second.state) == (S.ORDER_STATE_NEW, S.ORDER_STATE_NEW)
    venue = await slice_shown(market, "190.00", "100")
    await sell_into(market, venue, "190.00", "100")
    filled = await final_order(routed_oms, first.order_id, timeout_s=10)
    other = await final_order(routed_oms, second.order_id, timeout_s=10)
    assert (filled.state, filled.cum_qty) == (S.ORDER_STATE_FILLED, "100")
    assert (other.state, other.cum_qty) == (S.ORDER_STATE_CANCELED, "0")
    assert other.text == f"OCO: order {first.order_id} filled"


async def test_an_oto_releases_the_second_order_when_the_first_fills(
    routed_oms: RoutedOms, market: Market
) -> None:
    """Buy 100 at 190.00, then buy 100 at 189.50: held (PENDING_NEW) until the first fills."""
    request = order_list(
        S.CONTINGENCY_TYPE_OTO, limit_buy("p"), limit_buy("s", limit_price="189.50")
    )
    first, second = (await routed_oms.orders.SubmitOrderList(request, metadata=MD)).orders
    assert (first.state, second.state) == (S.ORDER_STATE_NEW, S.ORDER_STATE_PENDING_NEW)
    venue = await slice_shown(market, "190.00", "100")
    await sell_into(market, venue, "190.00", "100")
    await becomes(routed_oms, second.order_id, S.ORDER_STATE_NEW)
    await slice_shown(market, "189.50", "100")  # routed, resting at a venue
    events = [e.exec_type for e in await order_events(routed_oms, second.order_id)]
    assert events == [S.EXEC_TYPE_PENDING_NEW, S.EXEC_TYPE_NEW]


async def test_a_bracket_sizes_its_exits_to_the_entry_across_a_restart_and_one_exit_wins(
    routed_oms: RoutedOms, market: Market
) -> None:
    """Entry buy 100 at 190.00. A seller fills 60: both exits are released for 60. The
    OMS restarts; a seller fills the other 40: the exits grow to 100 (RESTATED). The bid
    falls to 188.90: the stop loss fires and sells 100 at 188.90; the take profit is
    canceled."""
    entry, tp, sl = (await routed_oms.orders.SubmitOrderList(bracket(), metadata=MD)).orders
    assert (tp.state, sl.state) == (S.ORDER_STATE_PENDING_NEW,) * 2
    venue = await slice_shown(market, "190.00", "100")
    await sell_into(market, venue, "190.00", "60")
    await becomes(routed_oms, tp.order_id, S.ORDER_STATE_NEW, "60")
    await becomes(routed_oms, sl.order_id, S.ORDER_STATE_NEW, "60")

    await routed_oms.stop()
    await routed_oms.start()
    venue = await slice_shown(market, "190.00", "40")
    await sell_into(market, venue, "190.00", "40")
    await becomes(routed_oms, entry.order_id, S.ORDER_STATE_FILLED)
    await becomes(routed_oms, tp.order_id, S.ORDER_STATE_NEW, "100")
    await becomes(routed_oms, sl.order_id, S.ORDER_STATE_NEW, "100")

    await quote_everywhere(market, "188.90", "189.00")
    stop = await final_order(routed_oms, sl.order_id, timeout_s=10)
    take = await final_order(routed_oms, tp.order_id, timeout_s=10)
    assert (stop.state, stop.cum_qty, stop.avg_price) == (S.ORDER_STATE_FILLED, "100", "188.9")
    assert (take.state, take.cum_qty) == (S.ORDER_STATE_CANCELED, "0")
    tp_events = [e.exec_type for e in await order_events(routed_oms, tp.order_id)]
    assert tp_events[:3] == [S.EXEC_TYPE_PENDING_NEW, S.EXEC_TYPE_NEW, S.EXEC_TYPE_RESTATED]


async def test_one_member_of_a_list_may_be_canceled(routed_oms: RoutedOms) -> None:
    entry, tp, sl = (await routed_oms.orders.SubmitOrderList(bracket(), metadata=MD)).orders
    await routed_oms.orders.CancelOrder(pb.CancelOrderRequest(order_id=sl.order_id), metadata=MD)
    done = await final_order(routed_oms, sl.order_id, timeout_s=10)
    assert done.state == S.ORDER_STATE_CANCELED
    assert (await order_of(routed_oms, entry.order_id)).state == S.ORDER_STATE_NEW
    assert (await order_of(routed_oms, tp.order_id)).state == S.ORDER_STATE_PENDING_NEW


async def test_a_retried_list_returns_the_orders_made_first(routed_oms: RoutedOms) -> None:
    first = await routed_oms.orders.SubmitOrderList(bracket(), metadata=MD)
    again = await routed_oms.orders.SubmitOrderList(bracket(), metadata=MD)
    assert [o.order_id for o in again.orders] == [o.order_id for o in first.orders]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (
            order_list(S.CONTINGENCY_TYPE_OCO, limit_buy("a"), limit_buy("b", account_id="ACC2")),
            "orders[1].account_id",
        ),
        (
            order_list(S.CONTINGENCY_TYPE_OCO, limit_buy("a"), limit_buy("b", symbol="MSFT")),
            "orders[1].symbol",
        ),
        (order_list(S.CONTINGENCY_TYPE_OCO, limit_buy("a")), "orders"),
        (order_list(S.CONTINGENCY_TYPE_BRACKET, limit_buy("a"), limit_buy("b")), "orders"),
        (
            order_list(S.CONTINGENCY_TYPE_OTO, limit_buy("a"), limit_buy("b"), list_client_id=""),
            "list_client_id",
        ),
        (
            order_list(S.CONTINGENCY_TYPE_UNSPECIFIED, limit_buy("a"), limit_buy("b")),
            "contingency_type",
        ),
        (
            order_list(S.CONTINGENCY_TYPE_OCO, limit_buy("a"), limit_buy("b", quantity="0")),
            "orders[1].quantity",
        ),
    ],
)
async def test_a_bad_list_is_invalid_argument_naming_the_field_and_stores_nothing(
    routed_oms: RoutedOms, request_: pb.SubmitOrderListRequest, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await routed_oms.orders.SubmitOrderList(request_, metadata=MD)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(refused.value) == [field]
    listed = await routed_oms.orders.ListOrders(
        pb.ListOrdersRequest(account_id="ACC1"), metadata=MD
    )
    assert list(listed.orders) == []


async def test_the_sdk_submits_a_bracket_whose_entry_fill_releases_its_exits(
    routed_oms: RoutedOms, market: Market
) -> None:
    """OmsClient.submit_order_list: a bracket whose entry fills releases its exits."""
    async with OmsClient(routed_oms.app.address, token()) as client:
        reply = await client.submit_order_list(
            account_id="ACC1",
            contingency_type="bracket",
            orders=[
                Submit(
                    account_id="ACC1",
                    symbol="AAPL",
                    side="buy",
                    quantity="100",
                    limit_price="190.00",
                ),
                Submit(
                    account_id="ACC1",
                    symbol="AAPL",
                    side="sell",
                    quantity="100",
                    limit_price="191.00",
                ),
                Submit(
                    account_id="ACC1",
                    symbol="AAPL",
                    side="sell",
                    quantity="100",
                    stop_price="189.00",
                ),
            ],
        )
        _, tp, sl = reply.orders
        assert {o.list_id for o in reply.orders} == {reply.list_id}
        assert (tp.order_type, sl.order_type) == (S.ORDER_TYPE_LIMIT, S.ORDER_TYPE_STOP)
        venue = await slice_shown(market, "190.00", "100")
        await sell_into(market, venue, "190.00", "100")
        await becomes(routed_oms, tp.order_id, S.ORDER_STATE_NEW, "100")
        with pytest.raises(InvalidArgument) as refused:
            await client.submit_order_list(
                account_id="ACC1",
                contingency_type="oco",
                orders=[
                    Submit(
                        account_id="ACC1",
                        symbol="AAPL",
                        side="buy",
                        quantity="1",
                        limit_price="190",
                    )
                ],
            )
        assert [field for field, _ in refused.value.field_violations] == ["orders"]


async def test_omsctl_submit_list_makes_a_bracket(
    routed_oms: RoutedOms, capsys: pytest.CaptureFixture[str]
) -> None:
    omsctl = Omsctl(routed_oms.app.address, capsys, default_token=token())
    run = await omsctl(
        "--json", "submit-list", "bracket", "AAPL", "buy:100:limit:190.00",
        "sell:100:limit:191.00", "sell:100:stop:189.00", "--list-client-id", "cli-list",
    )  # fmt: skip
    assert run.code == EXIT_OK, run.err
    made = run.json()
    states = [(o["order_type"], o["state"]) for o in made["orders"]]
    assert states == [
        ("ORDER_TYPE_LIMIT", "ORDER_STATE_NEW"),
        ("ORDER_TYPE_LIMIT", "ORDER_STATE_PENDING_NEW"),
        ("ORDER_TYPE_STOP", "ORDER_STATE_PENDING_NEW"),
    ]
    assert {o["list_id"] for o in made["orders"]} == {made["list_id"]}
    for line in (  # the README's other two examples
        "oco AAPL buy:100:limit:189.90 buy:100:stop:190.50",
        "oto AAPL buy:100:limit:190.00 buy:100:limit:189.50",
    ):
        again = await omsctl("--json", "submit-list", *line.split())
        assert again.code == EXIT_OK, again.err
    bad_spec = await omsctl("submit-list", "oco", "AAPL", "buy:100:limit")
    assert bad_spec.code == EXIT_USAGE and "SIDE:QTY:TYPE" in bad_spec.err
    refused = await omsctl("submit-list", "oco", "AAPL", "buy:100:limit:190.00")
    assert refused.code == EXIT_REFUSED and "orders" in refused.err

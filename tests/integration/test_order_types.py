"""Order types on a moving book end to end (issue 21): real venues over real NATS, the
books moved by simulator control messages, outcomes worked out by hand."""

from __future__ import annotations

from decimal import Decimal

import grpc
import pytest
from nats.aio.msg import Msg

from oms_server.domain.decimals import ZERO
from protos.oms.v1 import common_pb2 as S
from protos.oms.v1 import order_service_pb2 as pb
from protos.venue.v1 import venue_pb2 as v
from tests.support.fixtures import call_metadata
from tests.support.market import Market, RoutedOms
from tests.support.orders import field_violations, limit_buy
from tests.support.reports import final_order, order_events
from tests.support.waiting import eventually
from venues import subjects

MD = call_metadata()
VENUES = ("ALPHA", "BRAVO", "CHARLIE")


async def quote_everywhere(market: Market, bid: str, ask: str) -> None:
    """Every venue's AAPL book becomes one bid and one ask of 300."""
    for venue in VENUES:
        book = v.BookSnapshot(
            venue=venue,
            symbol="AAPL",
            bids=[v.BookLevel(price=bid, size="300")],
            asks=[v.BookLevel(price=ask, size="300")],
        )
        await market.control(venue, v.SimulatorControl(set_book=book))


async def trigger_of(oms: RoutedOms, order_id: str) -> str:
    reply = await oms.orders.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=MD)
    return reply.order.trigger_price


async def trigger_becomes(oms: RoutedOms, order_id: str, price: str) -> None:
    async def there() -> bool:
        return await trigger_of(oms, order_id) == price

    await eventually(there, message=f"trigger at {price}")


async def test_a_trailing_buy_follows_the_ask_down_survives_a_restart_and_fires(
    routed_oms: RoutedOms, market: Market
) -> None:
    """Ask 190.01, offset 0.50: trigger 190.51; the ask falls to 189.60: 190.10. While the
    OMS is down the ask rises to 189.80 (from scratch the trigger would be 190.30); after
    the restart it is still 190.10, and an ask of 190.10 fires it: 100 bought at 190.10."""
    request = limit_buy(
        "trail-1",
        limit_price="",
        order_type=S.ORDER_TYPE_TRAILING_STOP,
        trailing_offset="0.50",
    )
    placed = (await routed_oms.orders.SubmitOrder(request, metadata=MD)).order
    assert placed.trigger_price == "190.51"

    await quote_everywhere(market, "189.58", "189.60")
    await trigger_becomes(routed_oms, placed.order_id, "190.1")

    await routed_oms.stop()
    await quote_everywhere(market, "189.78", "189.80")
    await routed_oms.start()
    assert await trigger_of(routed_oms, placed.order_id) == "190.1"

    await quote_everywhere(market, "190.08", "190.10")
    done = await final_order(routed_oms, placed.order_id, timeout_s=10)
    assert done.state == S.ORDER_STATE_FILLED
    assert (done.cum_qty, done.avg_price) == ("100", "190.1")
    events = await order_events(routed_oms, placed.order_id)
    (fired,) = [e for e in events if e.exec_type == S.EXEC_TYPE_TRIGGERED]
    assert fired.text == "triggered at 190.1: best ask 190.1"


async def test_a_buy_market_if_touched_waits_for_the_ask_to_fall_to_its_price(
    routed_oms: RoutedOms, market: Market
) -> None:
    """Stop price 189.50 below the 190.01 ask: it waits; an ask of 189.50 buys 100 there."""
    request = limit_buy(
        "mit-1", limit_price="", order_type=S.ORDER_TYPE_MARKET_IF_TOUCHED, stop_price="189.50"
    )
    placed = (await routed_oms.orders.SubmitOrder(request, metadata=MD)).order
    await quote_everywhere(market, "189.48", "189.50")
    done = await final_order(routed_oms, placed.order_id, timeout_s=10)
    assert (done.state, done.avg_price) == (S.ORDER_STATE_FILLED, "189.5")


@pytest.mark.parametrize("offset", ["", "0", "0.005"])
async def test_a_bad_trailing_offset_is_invalid_argument_naming_it_and_stores_nothing(
    routed_oms: RoutedOms, offset: str
) -> None:
    request = limit_buy(
        "bad-1", limit_price="", order_type=S.ORDER_TYPE_TRAILING_STOP, trailing_offset=offset
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await routed_oms.orders.SubmitOrder(request, metadata=MD)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(refused.value) == ["trailing_offset"]
    listed = await routed_oms.orders.ListOrders(
        pb.ListOrdersRequest(account_id="ACC1"), metadata=MD
    )
    assert list(listed.orders) == []


class BidsAt:
    """The size each venue's market data shows bid at one price, every snapshot seen."""

    def __init__(self, price: str) -> None:
        self.price = Decimal(price)
        self.seen: dict[str, list[Decimal]] = {}

    async def on_book(self, msg: Msg) -> None:
        book = v.BookSnapshot.FromString(msg.data)
        size = sum((Decimal(b.size) for b in book.bids if Decimal(b.price) == self.price), ZERO)
        self.seen.setdefault(book.venue, []).append(size)

    @property
    def most(self) -> Decimal:
        return max((size for sizes in self.seen.values() for size in sizes), default=ZERO)


def resting_at(market: Market, price: str) -> dict[str, Decimal]:
    """Each venue's bid size at ``price`` in its simulator's own book (none: left out)."""
    found = {}
    for name, simulator in market.simulators.items():
        depth = simulator.engine.top_of_book("AAPL", 10)
        size = sum((q for p, q in depth.bids if p == Decimal(price)), ZERO)
        if size:
            found[name] = size
    return found


async def slice_shown(market: Market, price: str, size: str) -> str:
    """The one venue showing the iceberg's slice of ``size`` at ``price``; never two."""

    def one() -> str | None:
        shown = resting_at(market, price)
        assert sum(shown.values(), ZERO) <= Decimal(size), shown
        return next(iter(shown)) if shown == {next(iter(shown), ""): Decimal(size)} else None

    return await eventually(one, message=f"a slice of {size} shown at {price}")


async def sell_into(market: Market, venue: str, price: str, size: str) -> None:
    """A market maker at ``venue`` offers ``size`` at ``price`` (above its scenario asks)."""
    start = market.scenario.venues[VENUES.index(venue)].book("AAPL")
    assert start is not None
    book = v.BookSnapshot(
        venue=venue,
        symbol="AAPL",
        bids=[v.BookLevel(price=str(p), size=str(q)) for p, q in start.bids],
        asks=[
            v.BookLevel(price=price, size=size),
            *(v.BookLevel(price=str(p), size=str(q)) for p, q in start.asks),
        ],
    )
    await market.control(venue, v.SimulatorControl(set_book=book))


async def test_an_iceberg_shows_one_slice_at_a_time_across_a_restart_and_fills(
    routed_oms: RoutedOms, market: Market
) -> None:
    """Buy 300 at 190.00 (inside every spread: nothing else bids there) showing 100.
    Three times a seller offers 100 at 190.00 where the slice rests: each takes the
    shown 100 and the next slice appears; the second fills while the OMS is down, and
    the restarted OMS shows the third. 300 bought at 190.00; no venue's market data
    ever shows more than 100 bid at 190.00."""
    assert market.client is not None
    watch = BidsAt("190.00")
    sub = await market.client.subscribe(subjects.ALL_MARKET_DATA, cb=watch.on_book)
    request = limit_buy("ice-1", quantity="300", display_quantity="100")
    placed = (await routed_oms.orders.SubmitOrder(request, metadata=MD)).order
    assert (placed.display_quantity, placed.quantity) == ("100", "300")

    venue = await slice_shown(market, "190.00", "100")
    await sell_into(market, venue, "190.00", "100")
    venue = await slice_shown(market, "190.00", "100")  # the second slice
    await routed_oms.stop()
    await sell_into(market, venue, "190.00", "100")
    await eventually(lambda: not resting_at(market, "190.00"), message="second slice filled")
    await routed_oms.start()
    venue = await slice_shown(market, "190.00", "100")  # the third, from the store
    await sell_into(market, venue, "190.00", "100")

    done = await final_order(routed_oms, placed.order_id, timeout_s=10)
    await sub.unsubscribe()
    assert (done.state, done.cum_qty, done.avg_price) == (S.ORDER_STATE_FILLED, "300", "190")
    events = await order_events(routed_oms, placed.order_id)
    trades = [e for e in events if e.exec_type == S.EXEC_TYPE_TRADE]
    assert [(e.last_qty, e.last_price) for e in trades] == [("100", "190")] * 3
    assert watch.most == Decimal(100)  # the slice was shown, and never more than it


@pytest.mark.parametrize(
    ("terms", "why"),
    [
        ({"display_quantity": "400"}, "more than the order's quantity"),
        ({"display_quantity": "0"}, "greater than zero"),
        ({"display_quantity": "-1"}, "greater than zero"),
        ({"display_quantity": "1.5"}, "lot size"),
        ({"display_quantity": "abc"}, ""),
        ({"display_quantity": "100", "time_in_force": S.TIME_IN_FORCE_IOC}, "cannot be IOC"),
        (
            {"display_quantity": "100", "order_type": S.ORDER_TYPE_MARKET, "limit_price": ""},
            "must be empty",
        ),
    ],
)
async def test_a_bad_display_quantity_is_invalid_argument_naming_it_and_stores_nothing(
    routed_oms: RoutedOms, terms: dict[str, object], why: str
) -> None:
    request = limit_buy("bad-ice", quantity="300", **terms)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await routed_oms.orders.SubmitOrder(request, metadata=MD)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(refused.value) == ["display_quantity"]
    assert why in (refused.value.details() or "")
    listed = await routed_oms.orders.ListOrders(
        pb.ListOrdersRequest(account_id="ACC1"), metadata=MD
    )
    assert list(listed.orders) == []


async def test_canceling_an_iceberg_cancels_its_shown_slice(
    routed_oms: RoutedOms, market: Market
) -> None:
    request = limit_buy("ice-2", quantity="300", display_quantity="100")
    placed = (await routed_oms.orders.SubmitOrder(request, metadata=MD)).order
    await slice_shown(market, "190.00", "100")
    await routed_oms.orders.CancelOrder(
        pb.CancelOrderRequest(order_id=placed.order_id), metadata=MD
    )
    done = await final_order(routed_oms, placed.order_id, timeout_s=10)
    assert (done.state, done.cum_qty) == (S.ORDER_STATE_CANCELED, "0")
    assert resting_at(market, "190.00") == {}

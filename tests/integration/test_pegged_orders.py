"""Pegged orders on a moving book end to end (issue 21): real venues over real NATS, the
books moved by simulator control messages, the child's price worked out by hand."""

from __future__ import annotations

from decimal import Decimal

import grpc
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from oms_server.domain.decimals import ZERO
from oms_server.observability import OmsCollector
from protos.oms.v1 import common_pb2 as S
from protos.oms.v1 import order_service_pb2 as pb
from protos.venue.v1 import venue_pb2 as v
from tests.support.fixtures import call_metadata
from tests.support.market import Market, RoutedOms
from tests.support.orders import field_violations, limit_buy
from tests.support.reports import final_order, order_events
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(60)

MD = call_metadata()
VENUES = ("ALPHA", "BRAVO", "CHARLIE")


async def quote(market: Market, bid: str, ask: str, venues: tuple[str, ...] = VENUES) -> None:
    """Each of ``venues``' AAPL book becomes one bid and one ask of 300 (the market
    makers' orders replaced; the OMS's children stay)."""
    for venue in venues:
        book = v.BookSnapshot(
            venue=venue,
            symbol="AAPL",
            bids=[v.BookLevel(price=bid, size="300")],
            asks=[v.BookLevel(price=ask, size="300")],
        )
        await market.control(venue, v.SimulatorControl(set_book=book))


def bids_at(market: Market, price: str) -> dict[str, Decimal]:
    """Each venue's bid size at ``price`` in its simulator's own book (none: left out)."""
    found = {}
    for name, simulator in market.simulators.items():
        depth = simulator.engine.top_of_book("AAPL", 10)
        size = sum((q for p, q in depth.bids if p == Decimal(price)), ZERO)
        if size:
            found[name] = size
    return found


async def child_rests_at(market: Market, price: str, gone_from: str = "") -> str:
    """The one venue where the pegged buy of 100 rests at ``price`` (the market makers bid
    300 elsewhere, so 100 is the child alone), once nothing of it is left at ``gone_from``."""

    def there() -> str | None:
        shown = bids_at(market, price)
        if gone_from and bids_at(market, gone_from):
            return None
        venues = [venue for venue, size in shown.items() if size == Decimal(100)]
        return venues[0] if len(venues) == 1 else None

    return await eventually(there, message=f"the pegged child resting at {price}")


async def test_a_primary_buy_follows_the_bid_across_a_restart_up_to_its_cap_and_fills(
    routed_oms: RoutedOms, market: Market
) -> None:
    """Primary peg, offset 0.01, cap 190.00, buy 100. Bid 189.90: it rests at 189.89; bid
    189.95: 189.94. While the OMS is down the bid rises to 189.97; restarted, the stored
    child is re-pegged when the book next moves (189.98: 189.97). Bid 190.05: 190.04 is
    beyond the cap, so 190.00; a seller offering 100 at 190.00 there fills it."""
    await quote(market, "189.90", "190.10")
    request = limit_buy(
        "peg-1",
        limit_price="190.00",
        order_type=S.ORDER_TYPE_PEGGED,
        peg_type=S.PEG_TYPE_PRIMARY,
        peg_offset="0.01",
    )
    placed = (await routed_oms.orders.SubmitOrder(request, metadata=MD)).order
    assert (placed.peg_type, placed.peg_offset) == (S.PEG_TYPE_PRIMARY, "0.01")
    await child_rests_at(market, "189.89")

    await quote(market, "189.95", "190.10")
    await child_rests_at(market, "189.94", gone_from="189.89")

    await routed_oms.stop()
    await quote(market, "189.97", "190.10")
    await routed_oms.start()
    await quote(market, "189.98", "190.10")
    await child_rests_at(market, "189.97", gone_from="189.94")

    await quote(market, "190.05", "190.10")
    venue = await child_rests_at(market, "190.00", gone_from="189.97")
    seller = v.BookSnapshot(
        venue=venue,
        symbol="AAPL",
        bids=[v.BookLevel(price="189.50", size="300")],
        asks=[v.BookLevel(price="190.00", size="100")],
    )
    await market.control(venue, v.SimulatorControl(set_book=seller))

    done = await final_order(routed_oms, placed.order_id, timeout_s=10)
    assert (done.state, done.cum_qty, done.avg_price) == (S.ORDER_STATE_FILLED, "100", "190")
    assert routed_oms.app is not None
    registry = CollectorRegistry()
    registry.register(OmsCollector(routed_oms.app))
    # since the restart: 189.94 to 189.97, and 189.97 to the 190.00 cap
    assert "oms_repegs_total 2.0" in generate_latest(registry).decode()
    events = await order_events(routed_oms, placed.order_id)
    trades = [e for e in events if e.exec_type == S.EXEC_TYPE_TRADE]
    assert [(e.last_qty, e.last_price, e.last_venue) for e in trades] == [("100", "190", venue)]
    assert all(e.exec_type != S.EXEC_TYPE_CANCELED for e in events)  # a re-peg is no report


async def test_a_midpoint_buy_rests_at_the_mid_rounded_down_and_cancels(
    routed_oms: RoutedOms, market: Market
) -> None:
    """Bid 189.90, ask 190.05: the mid 189.975 is rounded down for a buy, 189.97."""
    await quote(market, "189.90", "190.05")
    request = limit_buy(
        "peg-mid",
        limit_price="",
        order_type=S.ORDER_TYPE_PEGGED,
        peg_type=S.PEG_TYPE_MIDPOINT,
    )
    placed = (await routed_oms.orders.SubmitOrder(request, metadata=MD)).order

    await child_rests_at(market, "189.97")
    await routed_oms.orders.CancelOrder(
        pb.CancelOrderRequest(order_id=placed.order_id), metadata=MD
    )
    done = await final_order(routed_oms, placed.order_id, timeout_s=10)
    assert done.state == S.ORDER_STATE_CANCELED
    assert bids_at(market, "189.97") == {}


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"peg_type": S.PEG_TYPE_UNSPECIFIED}, "peg_type"),
        ({"peg_type": 9}, "peg_type"),
        ({"peg_offset": "-0.01"}, "peg_offset"),
        ({"peg_offset": "0.005"}, "peg_offset"),
        ({"peg_offset": "abc"}, "peg_offset"),
        ({"limit_price": "190.005"}, "limit_price"),
        ({"order_type": S.ORDER_TYPE_LIMIT}, "peg_type"),
        ({"peg_type": S.PEG_TYPE_UNSPECIFIED, "order_type": S.ORDER_TYPE_LIMIT}, "peg_offset"),
        ({"time_in_force": S.TIME_IN_FORCE_IOC}, "time_in_force"),
    ],
)
async def test_a_bad_pegged_order_is_invalid_argument_naming_the_field_and_stores_nothing(
    routed_oms: RoutedOms, terms: dict[str, object], field: str
) -> None:
    fields: dict[str, object] = {
        "limit_price": "190.00",
        "order_type": S.ORDER_TYPE_PEGGED,
        "peg_type": S.PEG_TYPE_PRIMARY,
        "peg_offset": "0.01",
    }
    fields.update(terms)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await routed_oms.orders.SubmitOrder(limit_buy("bad-peg", **fields), metadata=MD)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(refused.value) == [field]
    listed = await routed_oms.orders.ListOrders(
        pb.ListOrdersRequest(account_id="ACC1"), metadata=MD
    )
    assert list(listed.orders) == []

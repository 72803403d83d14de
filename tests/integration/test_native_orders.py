"""Order types a venue keeps itself (issue 21): a venue whose scenario capabilities
include "iceberg" gets one child holding the whole iceberg with its display quantity,
and its simulator shows and refreshes the slices; one with "peg" gets one pegged child
its simulator prices and re-prices. Real venues over real NATS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from oms_server.domain.decimals import ZERO
from protos.oms.v1 import common_pb2 as S
from protos.venue.v1 import venue_pb2 as v
from tests.integration.test_order_types import MD, BidsAt, resting_at, sell_into
from tests.integration.test_pegged_orders import child_rests_at, quote
from tests.support.market import THREE_VENUES, Market, RoutedOms, market_running
from tests.support.orders import limit_buy
from tests.support.reports import final_order, order_events
from tests.support.waiting import eventually
from venues import subjects
from venues.nats_runtime import EmbeddedNats
from venues.sim.events import OrderStatus

pytestmark = pytest.mark.timeout(60)

#: THREE_VENUES where every venue keeps icebergs and pegs itself, so wherever the router
#: rests the order, the venue's own type is used.
NATIVE_ICEBERGS = THREE_VENUES
for _venue in ("ALPHA", "BRAVO", "CHARLIE"):
    NATIVE_ICEBERGS = NATIVE_ICEBERGS.replace(
        f'name = "{_venue}"\n', f'name = "{_venue}"\ncapabilities = ["iceberg", "peg"]\n'
    )


@pytest.fixture
async def market(nats_server: EmbeddedNats) -> AsyncIterator[Market]:
    async with market_running(nats_server, NATIVE_ICEBERGS) as running:
        yield running


def oms_orders(market: Market) -> dict[str, list[tuple[str, Decimal, Decimal]]]:
    """Per venue, every OMS child its simulator knows: (id, cum, leaves)."""
    return {
        name: [(s.order_id, s.cum_qty, s.leaves_qty) for s in sim.engine.statuses()]
        for name, sim in market.simulators.items()
        if sim.engine.statuses()
    }


async def test_a_native_iceberg_is_one_child_the_venue_shows_a_slice_of_and_refreshes(
    routed_oms: RoutedOms, market: Market
) -> None:
    """Buy 300 at 190.00 showing 100 where venues keep icebergs: one child of 300 at
    one venue, which bids 100 at 190.00. A seller of 150 there takes the shown 100 and
    50 of the refreshed slice (50 left shown); the OMS restarts; a second seller of 150
    takes those 50 and the last slice of 100. 300 bought at 190.00 through one child, and no venue's
    market data ever bids more than 100 at 190.00."""
    assert market.client is not None
    watch = BidsAt("190.00")
    sub = await market.client.subscribe(subjects.ALL_MARKET_DATA, cb=watch.on_book)
    request = limit_buy("native-ice", quantity="300", display_quantity="100")
    placed = (await routed_oms.orders.SubmitOrder(request, metadata=MD)).order

    def shown(size: str) -> str | None:
        seen = resting_at(market, "190.00")
        assert sum(seen.values(), ZERO) <= Decimal(100), seen
        return next((v for v, q in seen.items() if q == Decimal(size)), None)

    venue = await eventually(lambda: shown("100"), message="100 of 300 shown at 190.00")
    children = oms_orders(market)
    assert list(children) == [venue]
    [(child_id, cum, leaves)] = children[venue]
    assert (cum, leaves) == (ZERO, Decimal(300))  # the whole order, not a slice

    await sell_into(market, venue, "190.00", "150")
    await eventually(lambda: shown("50"), message="the refreshed slice, 50 of it left")
    await routed_oms.stop()  # the child, its display quantity with it, comes from the store
    await routed_oms.start()
    await sell_into(market, venue, "190.00", "150")

    done = await final_order(routed_oms, placed.order_id, timeout_s=10)
    await sub.unsubscribe()
    assert (done.state, done.cum_qty, done.avg_price) == (S.ORDER_STATE_FILLED, "300", "190")
    events = await order_events(routed_oms, placed.order_id)
    trades = [(e.last_qty, e.last_price) for e in events if e.exec_type == S.EXEC_TYPE_TRADE]
    assert trades == [("100", "190"), ("50", "190"), ("50", "190"), ("100", "190")]
    assert oms_orders(market) == {venue: [(child_id, Decimal(300), ZERO)]}  # still one child
    assert market.simulators[venue].engine.status(child_id).status is OrderStatus.FILLED
    assert Decimal(0) < watch.most <= Decimal(100)  # a slice was shown, never more


async def test_a_native_peg_is_one_child_its_venue_reprices_even_while_the_oms_is_down(
    routed_oms: RoutedOms, market: Market
) -> None:
    """Primary peg, offset 0.01, cap 190.00, buy 100, where venues keep pegs. Bid 189.90:
    one child rests at 189.89; bid 189.95: the venue moves it to 189.94; with the OMS
    down, bid 189.97: 189.96 all the same; restarted, bid 190.05: 190.00 (the cap). A
    seller of 100 at 190.00 there fills it. The OMS sent one order and no cancel."""
    await quote(market, "189.90", "190.10")
    request = limit_buy(
        "native-peg",
        limit_price="190.00",
        order_type=S.ORDER_TYPE_PEGGED,
        peg_type=S.PEG_TYPE_PRIMARY,
        peg_offset="0.01",
    )
    placed = (await routed_oms.orders.SubmitOrder(request, metadata=MD)).order
    venue = await child_rests_at(market, "189.89")
    assert list(oms_orders(market)) == [venue]

    await quote(market, "189.95", "190.10")
    await child_rests_at(market, "189.94", gone_from="189.89")
    await routed_oms.stop()
    await quote(market, "189.97", "190.10")
    await child_rests_at(market, "189.96", gone_from="189.94")  # the venue, not the OMS
    await routed_oms.start()
    await quote(market, "190.05", "190.10")
    await child_rests_at(market, "190.00", gone_from="189.96")

    # No bids but the peg (it keeps its price with nothing to follow), a seller at 190.00.
    seller = v.BookSnapshot(
        venue=venue, symbol="AAPL", asks=[v.BookLevel(price="190.00", size="100")]
    )
    await market.control(venue, v.SimulatorControl(set_book=seller))
    done = await final_order(routed_oms, placed.order_id, timeout_s=10)
    assert (done.state, done.cum_qty, done.avg_price) == (S.ORDER_STATE_FILLED, "100", "190")
    assert market.orders_received() == 1  # one NewOrder: no re-peg went through the OMS
    assert [(cum, leaves) for _, cum, leaves in oms_orders(market)[venue]] == [(100, 0)]

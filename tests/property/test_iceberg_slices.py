"""Property: an iceberg never has more than its display quantity at venues at once, and
still fills completely (issue 21).

The engine's command handlers are driven directly with a scripted venue side: an
iceberg of any size and display, resting or marketable, on any strategy; venues fill
its live children in any order and any amounts, or cancel them unfilled.
"""

from __future__ import annotations

import dataclasses
import random
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_server.domain.child import ChildState, VenueExecType
from oms_server.domain.decimals import ZERO
from oms_server.domain.enums import OrderState, RoutingStrategy
from tests.unit.engine.stubs import (
    ADMIN,
    ManualClock,
    ScriptedVenues,
    commands,
    request,
    settle,
    venue_report,
)

#: Resting below the 100.01 ask, or crossing the first ask level.
PRICES = (Decimal("100.00"), Decimal("100.01"), Decimal("100.02"))
#: Enough for the worst case: one lot per fill, each slice canceled a few times.
MAX_STEPS = 5_000


@st.composite
def icebergs(draw: st.DrawFn) -> tuple[int, int]:
    quantity = draw(st.integers(min_value=1, max_value=300))
    return quantity, draw(st.integers(min_value=1, max_value=quantity))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=icebergs(),
    price=st.sampled_from(PRICES),
    strategy=st.sampled_from([RoutingStrategy.BEST_PRICE, RoutingStrategy.LIQUIDITY]),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_an_iceberg_never_shows_more_than_its_display_quantity(
    sizes: tuple[int, int], price: Decimal, strategy: RoutingStrategy, seed: int
) -> None:
    quantity, display = sizes
    rng = random.Random(seed)  # the venues' order and amounts of fills and cancels
    venues = ScriptedVenues()
    engine = commands(venues, ManualClock())
    wanted = dataclasses.replace(
        request("ice", quantity=quantity, limit_price=price),
        display_quantity=Decimal(display),
        routing_strategy=strategy,
    )
    order = engine.submit(wanted, ADMIN)
    settle(engine)
    for _ in range(MAX_STEPS):
        live = engine.routing.live_children(order)
        assert sum((c.open_qty for c in live), ZERO) <= display
        assert all(c.quantity <= display for c in venues.sent)
        if not live:
            break
        child = rng.choice(live)
        if rng.random() < 0.1:  # now and then a venue cancels it unfilled
            report = venue_report(
                child, VenueExecType.CANCELED, ChildState.CANCELED, cum=child.cum_qty
            )
        else:
            qty = rng.randint(1, int(child.open_qty))
            done = qty == child.open_qty
            status = ChildState.FILLED if done else ChildState.PARTIALLY_FILLED
            report = venue_report(child, VenueExecType.TRADE, status, qty=qty, price=price)
        engine.apply_venue_reports([report])
        settle(engine)
    held = engine.live.get(order.order_id) or order
    assert engine.routing.live_children(held) == []
    assert (held.state, held.cum_qty) == (OrderState.FILLED, quantity)

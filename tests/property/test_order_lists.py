"""Property: an OCO never fills more than its quantity across its legs, and a BRACKET's
exits never more than its entry filled, under any interleaving of fills and cancels
(issue 21).

The engine's command handlers are driven directly with a scripted venue side that is
as unkind as a real one: any open child (one the OMS asked to cancel too) fills any
amount or is canceled, several reports land in one batch before the list's rules run,
the user cancels members at any moment, and stops trigger whenever.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_server.domain.child import ChildOrder, ChildState, VenueExecType
from oms_server.domain.decimals import ZERO
from oms_server.domain.enums import OrderState, OrderType, Side
from oms_server.domain.lists import ContingencyType
from oms_server.domain.order import Order, OrderRequest
from oms_server.domain.state_machine import Trigger
from oms_server.engine.commands import OrderCommands
from tests.unit.engine.stubs import (
    ADMIN,
    ManualClock,
    ScriptedVenues,
    commands,
    request,
    settle,
    venue_report,
)

#: Resting below the 100.01 ask, or crossing it.
BUY_PRICES = (Decimal("100.00"), Decimal("100.01"), Decimal("100.02"))
#: Resting above the 99.99 bid, or crossing it.
SELL_PRICES = (Decimal("100.00"), Decimal("99.99"), Decimal("99.98"))
MAX_STEPS = 400
#: Working and not being canceled.
WORKING = (OrderState.NEW, OrderState.PARTIALLY_FILLED)


def _members(engine: OrderCommands, placed: list[Order]) -> list[Order]:
    return [engine.live.get(o.order_id) or o for o in placed]


def _open_children(engine: OrderCommands, members: list[Order]) -> list[ChildOrder]:
    ids = {m.order_id for m in members}
    return [
        c for c in engine.routing.children.values() if c.parent_order_id in ids and not c.is_done
    ]


def _venue_step(engine: OrderCommands, rng: random.Random, child: ChildOrder) -> None:
    if rng.random() < 0.15:
        report = venue_report(child, VenueExecType.CANCELED, ChildState.CANCELED, cum=child.cum_qty)
    else:
        qty = rng.randint(1, int(child.open_qty))
        done = qty == child.open_qty
        status = ChildState.FILLED if done else ChildState.PARTIALLY_FILLED
        price = child.limit_price or Decimal("100.00")
        report = venue_report(child, VenueExecType.TRADE, status, qty=qty, price=price)
    engine.apply_venue_reports([report])


def _drive(
    engine: OrderCommands,
    placed: list[Order],
    rng: random.Random,
    check: Callable[[list[Order]], None],
) -> None:
    """Random venue reports, user cancels and stop triggers until every member is done."""
    for _ in range(MAX_STEPS):
        members = _members(engine, placed)
        check(members)
        children = _open_children(engine, members)
        roll = rng.random()
        if roll < 0.05:
            target = rng.choice(members)
            if target.order_id in engine.live.working and target.can(Trigger.CANCEL_REQUEST):
                engine.cancel(target.order_id, ADMIN)
        elif roll < 0.10:
            engine.trigger_stops("AAPL")
        elif children:
            _venue_step(engine, rng, rng.choice(children))
        elif all(m.is_terminal or m.order_id not in engine.live.working for m in members):
            break
        if rng.random() < 0.5:  # else the next report races into the same batch
            settle(engine)
    settle(engine)
    check(_members(engine, placed))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    quantities=st.lists(st.integers(min_value=1, max_value=300), min_size=2, max_size=3),
    prices=st.lists(st.sampled_from(BUY_PRICES), min_size=3, max_size=3),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_an_oco_never_fills_more_than_its_largest_leg(
    quantities: list[int], prices: list[Decimal], seed: int
) -> None:
    engine = commands(ScriptedVenues(), ManualClock())
    legs = [
        request(f"leg-{i}", quantity=q, limit_price=prices[i]) for i, q in enumerate(quantities)
    ]
    placed = engine.submit_list(ContingencyType.OCO, "oco", legs, ADMIN)
    settle(engine)
    total = Decimal(max(quantities))

    def check(members: list[Order]) -> None:
        assert sum((m.cum_qty for m in members), ZERO) <= total
        if any(m.cum_qty > ZERO for m in members) and not engine.lists.changed_pending():
            # once the rules ran, at most one leg still works uncanceled
            working = [m for m in members if m.state in WORKING]
            assert len(working) <= 1

    _drive(engine, placed, random.Random(seed), check)


def _bracket(quantity: int, entry: Decimal, take: Decimal, stop: Decimal) -> list[OrderRequest]:
    return [
        request("entry", quantity=quantity, limit_price=entry),
        request("tp", side=Side.SELL, quantity=quantity, limit_price=take),
        request(
            "sl",
            side=Side.SELL,
            quantity=quantity,
            order_type=OrderType.STOP,
            limit_price=None,
            stop_price=stop,
        ),
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    quantity=st.integers(min_value=1, max_value=300),
    entry=st.sampled_from(BUY_PRICES),
    take=st.sampled_from(SELL_PRICES),
    stop=st.sampled_from((Decimal("99.99"), Decimal("99.00"))),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_a_brackets_exits_never_exceed_what_its_entry_filled(
    quantity: int, entry: Decimal, take: Decimal, stop: Decimal, seed: int
) -> None:
    engine = commands(ScriptedVenues(), ManualClock())
    placed = engine.submit_list(
        ContingencyType.BRACKET, "bracket", _bracket(quantity, entry, take, stop), ADMIN
    )
    settle(engine)

    def check(members: list[Order]) -> None:
        entry_order, *exits = members
        assert sum((m.cum_qty for m in exits), ZERO) <= entry_order.cum_qty
        working = [m for m in exits if m.state in WORKING or m.state is OrderState.FILLED]
        assert all(m.quantity <= entry_order.cum_qty for m in working)

    _drive(engine, placed, random.Random(seed), check)

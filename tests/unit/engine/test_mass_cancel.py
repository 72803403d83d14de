"""Mass cancel: every working order of an account that matches, through the halt's path."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms_server.domain.child import ChildState, VenueExecType
from oms_server.domain.enums import OrderState, Side
from oms_server.domain.errors import NotFoundError
from oms_server.engine.commands import OrderCommands
from tests.unit.engine.stubs import (
    ScriptedVenues,
    commands,
    request,
    settle,
    trader,
    venue_report,
)


def working(engine: OrderCommands, *specs: tuple[str, str, Side]) -> list[str]:
    """Submit one resting order per (account, key, side); their ids."""
    ids = [
        engine.submit(request(key, account_id=account, side=side), trader(account)).order_id
        for account, key, side in specs
    ]
    settle(engine)
    return ids


def test_every_matching_order_is_asked_to_cancel_and_others_are_left() -> None:
    engine = commands()  # no venues: orders rest in the OMS and cancel at once
    a_buy, a_sell, b_buy = working(
        engine, ("A", "c1", Side.BUY), ("A", "c2", Side.SELL), ("B", "c3", Side.BUY)
    )
    assert engine.cancel_all("A", trader("A"), side=Side.BUY) == 1
    settle(engine)
    states = {i: engine.live.get(i).state for i in (a_buy, a_sell, b_buy)}  # type: ignore[union-attr]
    assert states == {
        a_buy: OrderState.CANCELED,
        a_sell: OrderState.NEW,
        b_buy: OrderState.NEW,
    }
    assert engine.cancel_all("A", trader("A"), symbol="AAPL") == 1  # the sell
    assert engine.cancel_all("A", trader("A")) == 0


def test_every_live_child_is_asked_and_a_late_fill_is_still_applied() -> None:
    venues = ScriptedVenues()
    engine = commands(venues)
    (order_id,) = working(engine, ("A", "c1", Side.BUY))
    children = list(engine.routing.children.values())
    engine.apply_venue_reports(
        [venue_report(c, VenueExecType.NEW, ChildState.NEW) for c in children]
    )
    settle(engine)
    assert engine.cancel_all("A", trader("A")) == 1
    settle(engine)
    assert sorted(venues.cancels) == sorted(c.child_order_id for c in children)
    order = engine.live.get(order_id)
    assert order is not None and order.state is OrderState.PENDING_CANCEL
    assert order.text.startswith("mass cancel by trader-A")
    first = children[0]
    engine.apply_venue_reports(
        [venue_report(first, VenueExecType.TRADE, ChildState.PARTIALLY_FILLED, qty=10)]
    )
    for child in children:
        engine.apply_venue_reports(
            [venue_report(child, VenueExecType.CANCELED, ChildState.CANCELED)]
        )
    settle(engine)
    assert (order.state, order.cum_qty) == (OrderState.CANCELED, 10)


def test_an_unknown_account_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        commands().cancel_all("NOPE", trader("NOPE"))


def test_a_pending_replace_is_refused_and_its_original_cancelled() -> None:
    venues = ScriptedVenues()
    engine = commands(venues)
    (order_id,) = working(engine, ("A", "c1", Side.BUY))
    (child,) = list(engine.routing.children.values())
    engine.apply_venue_reports([venue_report(child, VenueExecType.NEW, ChildState.NEW)])
    settle(engine)
    waiting = engine.replace(order_id, trader("A"), Decimal(200), None, "r1")
    settle(engine)
    assert waiting.state is OrderState.PENDING_REPLACE
    assert engine.cancel_all("A", trader("A")) == 1
    settle(engine)
    engine.apply_venue_reports([venue_report(child, VenueExecType.CANCELED, ChildState.CANCELED)])
    batch = settle(engine)
    assert [(r.order_id, r.exec_type.value) for r in batch.changes.events] == [
        (order_id, "REPLACE_REJECTED"),
        (order_id, "PENDING_CANCEL"),
        (order_id, "CANCELED"),
    ]
    assert [o.order_id for o in engine.live] == []  # no replacement works on
    assert engine.live.get(waiting.replaced_by_order_id) is None

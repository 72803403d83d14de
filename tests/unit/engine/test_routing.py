"""What routing does with a parent's unfilled remainder, and what it refuses at submit."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from oms_server.domain.child import ChildOrder, ChildPurpose, ChildState, VenueExecType
from oms_server.domain.enums import ExecType, OrderState, RoutingStrategy, TimeInForce
from oms_server.domain.errors import ValidationError
from oms_server.domain.order import Order
from oms_server.domain.reports import ExecutionReport
from oms_server.engine.commands import OrderCommands
from oms_server.engine.routing import MAX_REROUTES
from tests.unit.engine.stubs import (
    ADMIN,
    ManualClock,
    ScriptedVenues,
    commands,
    reports_of,
    request,
    settle,
    venue_report,
)

#: Both scripted venues offer 300 at 100.01 and 500 at 100.02.
BEST_ASK = Decimal("100.01")


@pytest.fixture
def venues() -> ScriptedVenues:
    return ScriptedVenues()


@pytest.fixture
def engine(venues: ScriptedVenues) -> OrderCommands:
    return commands(venues, ManualClock())


def submit(engine: OrderCommands, client_order_id: str, **terms: object) -> Order:
    accepted = engine.submit(request(client_order_id, **terms), ADMIN)  # type: ignore[arg-type]
    return accepted


def last_report(engine: OrderCommands, order_id: str) -> ExecutionReport:
    return reports_of(settle(engine), order_id)[-1]


def live_children(venues: ScriptedVenues, engine: OrderCommands, parent: Order) -> list[ChildOrder]:
    return [
        c
        for c in venues.sent
        if c.parent_order_id == parent.order_id
        and not engine.routing.children[c.child_order_id].is_done
    ]


def come_back_unfilled(engine: OrderCommands, children: list[ChildOrder]) -> None:
    """Every child ends at its venue with nothing (more) filled: the liquidity was gone."""
    engine.apply_venue_reports(
        [
            venue_report(c, VenueExecType.CANCELED, ChildState.CANCELED, cum=c.cum_qty)
            for c in children
        ]
    )


def test_an_ioc_that_finds_no_liquidity_is_canceled_saying_why(engine: OrderCommands) -> None:
    accepted = submit(engine, "ioc-1", time_in_force=TimeInForce.IOC)  # 100.00: below the ask
    canceled = last_report(engine, accepted.order_id)
    assert (canceled.exec_type, canceled.order_state) == (ExecType.CANCELED, OrderState.CANCELED)
    assert canceled.text == "IOC remainder canceled: no liquidity at the limit"


def test_a_fok_that_cannot_fill_in_full_is_canceled_saying_why(engine: OrderCommands) -> None:
    fok = {"time_in_force": TimeInForce.FOK, "limit_price": Decimal("100.02")}
    accepted = submit(engine, "fok-1", quantity=2000, **fok)  # 1,600 shown within the limit
    canceled = last_report(engine, accepted.order_id)
    assert (canceled.exec_type, canceled.order_state) == (ExecType.CANCELED, OrderState.CANCELED)
    assert canceled.text == "FOK order canceled: cannot be filled in full"


def test_the_unfilled_rest_of_an_ioc_is_canceled_and_its_fills_stay(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    accepted = submit(
        engine, "ioc-1", quantity=500, limit_price=BEST_ASK, time_in_force=TimeInForce.IOC
    )
    settle(engine)
    first, _ = live_children(venues, engine, accepted)  # 300 at V1, 200 at V2
    fill = venue_report(first, VenueExecType.TRADE, ChildState.PARTIALLY_FILLED, qty=100)
    engine.apply_venue_reports([fill])
    for _ in range(MAX_REROUTES + 1):  # the books the OMS sees never move: takes keep missing
        if accepted.order_id not in engine.live.working:
            break  # ended: each miss is routed again at once, so reroutes run out sooner
        come_back_unfilled(engine, live_children(venues, engine, accepted))
        settle(engine)
    held = engine.live.get(accepted.order_id)
    assert held is not None
    assert (held.state, held.cum_qty) == (OrderState.CANCELED, Decimal(100))
    assert held.text == "IOC remainder canceled: no liquidity at the limit"


def test_a_day_limit_whose_takes_keep_missing_rests_instead_of_ending(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    accepted = submit(engine, "day-1", quantity=300, limit_price=Decimal("100.05"))
    settle(engine)
    for _ in range(MAX_REROUTES + 1):  # others take the liquidity first, every time
        (take,) = live_children(venues, engine, accepted)
        assert take.purpose is ChildPurpose.TAKE
        come_back_unfilled(engine, [take])
        settle(engine)
    (rest,) = live_children(venues, engine, accepted)
    assert (rest.purpose, rest.time_in_force) == (ChildPurpose.REST, TimeInForce.DAY)
    assert (rest.quantity, rest.limit_price) == (Decimal(300), Decimal("100.05"))
    assert engine.live.working[accepted.order_id].state is OrderState.NEW


def test_an_order_every_venue_refused_is_rejected_with_the_venues_reason(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    accepted = submit(engine, "day-1")
    settle(engine)
    for _ in range(MAX_REROUTES + 1):
        (sent,) = live_children(venues, engine, accepted)
        refusal = venue_report(sent, VenueExecType.REJECTED, ChildState.REJECTED)
        engine.apply_venue_reports([dataclasses.replace(refusal, text="venue is closed")])
        batch = settle(engine)
    (rejected,) = reports_of(batch, accepted.order_id)
    assert (rejected.exec_type, rejected.order_state) == (ExecType.REJECTED, OrderState.REJECTED)
    assert rejected.text == "venue is closed"


def test_direct_to_a_venue_that_does_not_exist_is_refused_at_submit_naming_venue(
    engine: OrderCommands,
) -> None:
    direct = dataclasses.replace(
        request("d-1"), routing_strategy=RoutingStrategy.DIRECT, venue="NOWHERE"
    )
    with pytest.raises(ValidationError) as refused:
        engine.submit(direct, ADMIN)
    assert refused.value.field == "venue"
    assert refused.value.description == "unknown venue 'NOWHERE' (the venues are V1, V2)"
    assert not list(engine.live)
    assert not settle(engine).changes


def test_direct_to_any_venue_rests_in_an_oms_without_venues() -> None:
    engine = commands(None, ManualClock())
    direct = dataclasses.replace(
        request("d-1"), routing_strategy=RoutingStrategy.DIRECT, venue="NOWHERE"
    )
    assert engine.submit(direct, ADMIN).state is OrderState.NEW


class QuotelessVenues(ScriptedVenues):
    """Venues with no market data, as FIX venues are (or NATS ones that never quoted)."""

    def __init__(self, *, publishes_books: bool) -> None:
        super().__init__()
        self.publishes_books = publishes_books  # type: ignore[misc]

    def books(self, symbol: str) -> dict[str, object]:  # type: ignore[override]
        return {}


def test_with_no_market_data_at_all_risk_uses_the_instruments_reference_price() -> None:
    venues = QuotelessVenues(publishes_books=False)
    fix_only = commands(venues, ManualClock())
    assert fix_only.routing.reference_price("AAPL") == Decimal(100)
    direct = dataclasses.replace(
        request("fix-1", limit_price=Decimal("100.00")),
        routing_strategy=RoutingStrategy.DIRECT,
        venue=venues.names[0],
    )
    order = fix_only.submit(direct, ADMIN)
    settle(fix_only)
    assert [(c.parent_order_id, c.venue) for c in venues.sent] == [
        (order.order_id, venues.names[0])
    ]


def test_a_symbol_never_quoted_where_venues_publish_books_has_no_reference() -> None:
    unquoted = commands(QuotelessVenues(publishes_books=True), ManualClock())
    assert unquoted.routing.reference_price("AAPL") is None


def test_a_take_that_misses_beside_a_resting_child_is_routed_again_at_once(
    engine: OrderCommands, venues: ScriptedVenues
) -> None:
    """A DAY buy above the ask takes what is shown and rests the rest; a take that
    misses leaves its quantity at no venue unless it is routed again while the resting
    child still works."""
    accepted = submit(engine, "day-big", quantity=2000, limit_price=Decimal("100.02"))
    settle(engine)
    children = live_children(venues, engine, accepted)
    takes = [c for c in children if c.purpose is ChildPurpose.TAKE]
    assert takes and any(c.purpose is ChildPurpose.REST for c in children)
    come_back_unfilled(engine, takes[:1])  # others took that venue's offer first
    settle(engine)
    working = live_children(venues, engine, accepted)
    assert sum(c.open_qty for c in working) == Decimal(2000)
    before = {c.child_order_id for c in children}
    new = [c for c in working if c.child_order_id not in before]
    assert sum(c.quantity for c in new) == takes[0].quantity  # in place of the miss

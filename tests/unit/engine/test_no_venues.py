"""An OMS without venues: orders rest in the OMS, cancel and replace at once, nothing is sent."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from oms_server.domain.child import ChildState, VenueExecType, VenueReport
from oms_server.domain.enums import OrderState, OrderType
from oms_server.domain.errors import UnavailableError
from oms_server.engine.commands import OrderCommands
from oms_server.engine.no_venues import NoVenueRouting
from tests.unit.engine.stubs import (
    AAPL,
    ADMIN,
    INSTRUMENTS,
    commands,
    events,
    order,
    request,
    settle,
)

REPORT = VenueReport("V1", "x1", "o1.1", VenueExecType.NEW, ChildState.NEW)


@pytest.fixture
def engine() -> OrderCommands:
    return commands()


def test_an_order_rests_in_the_oms_at_its_reference_price() -> None:
    routing = NoVenueRouting(INSTRUMENTS)
    o1 = order("o1")
    routing.on_accepted(o1)
    routing.route(o1)
    assert routing.reference_price("AAPL") == AAPL.reference_price
    assert routing.cancel(o1) is True  # nothing lives at a venue: it can end now
    assert routing.live_children(o1) == []
    assert routing.children == {}


@pytest.mark.parametrize(
    "venue_only",
    [
        lambda r: r.apply(REPORT),
        lambda r: r.mark_unknown("o1.1", "never seen"),
        lambda r: r.note_resend("o1.1"),
    ],
    ids=["apply", "mark_unknown", "note_resend"],
)
def test_what_only_a_venue_could_cause_is_unavailable(
    venue_only: Callable[[NoVenueRouting], object],
) -> None:
    with pytest.raises(UnavailableError, match="no venues"):
        venue_only(NoVenueRouting(INSTRUMENTS))


def test_there_are_no_children_to_reconcile_and_no_stops_to_trigger() -> None:
    routing = NoVenueRouting(INSTRUMENTS)
    assert routing.stale_children(2**63) == []
    assert routing.open_children() == []
    assert routing.sweep_slice(100) == []
    assert routing.working_children("V1") == 0
    assert not routing.has_stops("AAPL")
    assert routing.trigger_stops("AAPL") == 0


def test_a_submitted_order_rests_new(engine: OrderCommands) -> None:
    accepted = engine.submit(request("c1"), ADMIN)
    batch = settle(engine)
    assert accepted.state is OrderState.NEW
    assert events(batch) == [(accepted.order_id, 1, "NEW")]
    assert batch.after_commit == []  # nothing to send
    assert engine.live.working_for(accepted.order_id, ADMIN).state is OrderState.NEW


def test_a_stop_order_rests_untriggered(engine: OrderCommands) -> None:
    stop = request("c1", order_type=OrderType.STOP, limit_price=None, stop_price=Decimal("101.00"))
    accepted = engine.submit(stop, ADMIN)
    settle(engine)
    assert accepted.state is OrderState.NEW
    assert engine.trigger_stops("AAPL") == 0


def test_a_cancel_ends_the_order_at_once(engine: OrderCommands) -> None:
    accepted = engine.submit(request("c1"), ADMIN)
    settle(engine)
    canceled = engine.cancel(accepted.order_id, ADMIN)
    batch = settle(engine)
    assert canceled.state is OrderState.CANCELED
    assert canceled.text == "canceled by ops"
    assert events(batch) == [
        (accepted.order_id, 2, "PENDING_CANCEL"),
        (accepted.order_id, 3, "CANCELED"),
    ]
    assert engine.account("A").reserved_cash == 0
    assert accepted.order_id not in [o.order_id for o in engine.live]  # retired on commit


def test_a_replace_completes_at_once(engine: OrderCommands) -> None:
    accepted = engine.submit(request("c1"), ADMIN)
    settle(engine)
    new = engine.replace(accepted.order_id, ADMIN, Decimal(150), None, "r1")
    batch = settle(engine)
    assert (new.state, new.quantity, new.client_order_id) == (OrderState.NEW, Decimal(150), "r1")
    assert new.replaces_order_id == accepted.order_id
    assert events(batch) == [
        (accepted.order_id, 2, "PENDING_REPLACE"),
        (accepted.order_id, 3, "REPLACED"),
        (new.order_id, 4, "NEW"),
    ]
    old = engine.live.get(accepted.order_id)
    assert old is not None and old.state is OrderState.REPLACED
    assert old.replaced_by_order_id == new.order_id


def test_venue_reports_are_refused_and_reconciliation_has_nothing_to_do(
    engine: OrderCommands,
) -> None:
    with pytest.raises(UnavailableError):
        engine.apply_venue_reports([REPORT])
    engine.reconcile("V1", {"o1.1": None})
    assert not settle(engine).changes
    assert engine.stale_children() == []

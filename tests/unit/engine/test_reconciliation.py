"""Reconciliation policy: resend or give up an unseen child, spot a lost cancel, catch up."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms_server.domain.child import ChildState, VenueExecType, VenueOrderStatus
from oms_server.engine.reconciliation import (
    DEFAULT_ACK_TIMEOUT_S,
    MAX_RESENDS,
    ReconcilePolicy,
    cancel_was_lost,
    reports_from_status,
    unseen_action,
)
from tests.unit.engine.stubs import NS_PER_S, START_NS, child, venue_report

POLICY = ReconcilePolicy()
ACK_TIMEOUT_NS = POLICY.ack_timeout_ns


def test_the_default_policy_waits_two_seconds_and_resends_twice() -> None:
    assert POLICY.ack_timeout_ns == int(DEFAULT_ACK_TIMEOUT_S * NS_PER_S) == 2 * NS_PER_S
    assert POLICY.max_resends == MAX_RESENDS == 2


@pytest.mark.parametrize(
    ("state", "resends", "max_resends", "action"),
    [
        (ChildState.PENDING_NEW, 0, 2, "resend"),
        (ChildState.PENDING_NEW, 1, 2, "resend"),
        (ChildState.PENDING_NEW, 2, 2, "give_up"),
        (ChildState.PENDING_NEW, 0, 0, "give_up"),
        # Acknowledged since it was asked about: a later report or status settles it.
        (ChildState.NEW, 0, 2, "wait"),
        (ChildState.PARTIALLY_FILLED, 5, 2, "wait"),
    ],
)
def test_what_becomes_of_a_child_its_venue_does_not_know(
    state: ChildState, resends: int, max_resends: int, action: str
) -> None:
    unseen = child("o1.1", state=state, resends=resends)
    assert unseen_action(unseen, ReconcilePolicy(max_resends=max_resends)) == action


def working_status(state: ChildState = ChildState.NEW) -> VenueOrderStatus:
    return VenueOrderStatus("o1.1", state, cum_qty=Decimal(0), leaves_qty=Decimal(100))


@pytest.mark.parametrize(
    ("cancel_requested", "waited_ns", "venue_state", "lost"),
    [
        (True, ACK_TIMEOUT_NS + 1, ChildState.NEW, True),
        (True, ACK_TIMEOUT_NS + 1, ChildState.PARTIALLY_FILLED, True),
        (True, ACK_TIMEOUT_NS, ChildState.NEW, False),  # not yet past the ack timeout
        (True, 1, ChildState.NEW, False),
        (True, ACK_TIMEOUT_NS + 1, ChildState.CANCELED, False),  # the venue did cancel it
        (True, ACK_TIMEOUT_NS + 1, ChildState.FILLED, False),
        (False, ACK_TIMEOUT_NS + 1, ChildState.NEW, False),  # no cancel was asked for
    ],
)
def test_a_cancel_is_lost_when_the_venue_works_the_order_past_the_ack_timeout(
    cancel_requested: bool, waited_ns: int, venue_state: ChildState, lost: bool
) -> None:
    asked = child("o1.1", state=ChildState.NEW, cancel_requested=cancel_requested)
    asked.updated_ns = START_NS
    now = START_NS + waited_ns
    assert cancel_was_lost(asked, working_status(venue_state), now, POLICY) is lost


def test_a_status_that_tells_nothing_new_makes_no_report() -> None:
    resting = child("o1.1", state=ChildState.NEW)
    assert reports_from_status("V1", resting, working_status(), START_NS) == []


def test_fills_the_engine_missed_come_first_then_the_venues_state() -> None:
    resting = child("o1.1", state=ChildState.NEW)
    fill = venue_report(resting, VenueExecType.TRADE, ChildState.PARTIALLY_FILLED, qty=40)
    status = VenueOrderStatus(
        "o1.1", ChildState.PARTIALLY_FILLED, Decimal(40), Decimal(60), fills=(fill,)
    )
    fill_report, state_report = reports_from_status("V1", resting, status, START_NS)
    assert fill_report is fill
    assert state_report.venue == "V1"
    assert state_report.child_order_id == "o1.1"
    assert state_report.exec_type is VenueExecType.NEW
    assert state_report.status is ChildState.PARTIALLY_FILLED
    assert (state_report.last_qty, state_report.cum_qty, state_report.leaves_qty) == (
        Decimal(0),
        Decimal(40),
        Decimal(60),
    )
    assert state_report.transact_ns == START_NS


@pytest.mark.parametrize(
    ("state", "exec_type"),
    [
        (ChildState.CANCELED, VenueExecType.CANCELED),
        (ChildState.REJECTED, VenueExecType.REJECTED),
        (ChildState.EXPIRED, VenueExecType.EXPIRED),
        (ChildState.NEW, VenueExecType.NEW),
        (ChildState.PARTIALLY_FILLED, VenueExecType.NEW),
        (ChildState.FILLED, VenueExecType.NEW),
    ],
)
def test_the_state_report_has_the_exec_type_of_the_venues_state(
    state: ChildState, exec_type: VenueExecType
) -> None:
    pending = child("o1.1")  # PENDING_NEW: every state below is news
    status = VenueOrderStatus("o1.1", state, Decimal(0), Decimal(0))
    (report,) = reports_from_status("V1", pending, status, START_NS)
    assert (report.exec_type, report.status) == (exec_type, state)


def test_the_same_status_seen_twice_makes_the_same_exec_id() -> None:
    """So a status applied twice (two reconcile passes) is deduplicated like any report."""
    pending = child("o1.1")
    status = VenueOrderStatus("o1.1", ChildState.CANCELED, Decimal("40.0"), Decimal(0))
    first = reports_from_status("V1", pending, status, START_NS)
    again = reports_from_status("V1", pending, status, START_NS + NS_PER_S)
    assert first[-1].exec_id == again[-1].exec_id == "status:o1.1:CANCELED:40"


def test_a_status_with_more_filled_is_news_even_in_the_same_state() -> None:
    resting = child("o1.1", state=ChildState.PARTIALLY_FILLED, cum_qty=Decimal(10))
    status = VenueOrderStatus("o1.1", ChildState.PARTIALLY_FILLED, Decimal(30), Decimal(70))
    (report,) = reports_from_status("V1", resting, status, START_NS)
    assert report.cum_qty == Decimal(30)

"""The order transition table: every legal transition, and illegal ones refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms_server.domain.enums import TERMINAL_STATES, OrderState
from oms_server.domain.errors import IllegalTransitionError
from oms_server.domain.state_machine import RESUME, TRANSITIONS, Trigger, is_legal, next_state

S, T = OrderState, Trigger


@pytest.mark.parametrize(("state", "trigger"), sorted(TRANSITIONS, key=str))
def test_every_legal_transition_moves_to_the_table_target(state: S, trigger: T) -> None:
    target = TRANSITIONS[(state, trigger)]
    result = next_state(state, trigger, Decimal(0))
    assert result is (S.NEW if target is RESUME else target)


@pytest.mark.parametrize(
    ("state", "cum_qty", "expected"),
    [
        (S.PENDING_CANCEL, Decimal(0), S.NEW),
        (S.PENDING_CANCEL, Decimal(5), S.PARTIALLY_FILLED),
        (S.PENDING_REPLACE, Decimal(0), S.NEW),
        (S.PENDING_REPLACE, Decimal("0.5"), S.PARTIALLY_FILLED),
    ],
)
def test_a_rejected_cancel_or_replace_resumes_the_working_state(
    state: S, cum_qty: Decimal, expected: S
) -> None:
    trigger = T.CANCEL_REJECT if state is S.PENDING_CANCEL else T.REPLACE_REJECT
    assert next_state(state, trigger, cum_qty) is expected


ILLEGAL = [
    (S.FILLED, T.CANCEL_REQUEST, "ORDER_NOT_CANCELABLE"),
    (S.CANCELED, T.PARTIAL_FILL, "ILLEGAL_TRANSITION"),
    (S.REJECTED, T.ACCEPT, "ILLEGAL_TRANSITION"),
    (S.NEW, T.ACCEPT, "ILLEGAL_TRANSITION"),
    (S.PARTIALLY_FILLED, T.REJECT, "ILLEGAL_TRANSITION"),
    (S.PENDING_CANCEL, T.REPLACE_REQUEST, "ORDER_NOT_REPLACEABLE"),
    (S.PENDING_REPLACE, T.CANCEL_REQUEST, "ORDER_NOT_CANCELABLE"),
    (S.REPLACED, T.FILL, "ILLEGAL_TRANSITION"),
    (S.EXPIRED, T.REPLACE_REQUEST, "ORDER_NOT_REPLACEABLE"),
]


@pytest.mark.parametrize(("state", "trigger", "reason"), ILLEGAL)
def test_illegal_transitions_are_refused_with_a_reason(state: S, trigger: T, reason: str) -> None:
    with pytest.raises(IllegalTransitionError) as refused:
        next_state(state, trigger, Decimal(0))
    assert refused.value.reason == reason
    assert state.value in str(refused.value)


@pytest.mark.parametrize("state", sorted(TERMINAL_STATES, key=str))
def test_terminal_states_take_no_trigger(state: S) -> None:
    assert not any(is_legal(state, trigger) for trigger in T)


def test_every_non_terminal_state_can_be_left() -> None:
    for state in S:
        if state not in TERMINAL_STATES:
            assert any(is_legal(state, trigger) for trigger in T), state

"""Hostile clients, small attacks (issue 26): token claims, duplicated headers, stream
positions past the head, and order ids that would count other accounts' orders."""

from __future__ import annotations

import itertools
import time

import grpc
import jwt
import pytest

from oms_server.api.auth import ALGORITHM
from oms_server.domain.access import Role
from oms_server.domain.order_ids import COUNTER_DIGITS
from protos.oms.v1 import order_service_pb2 as pb
from tests.support.fixtures import TEST_SECRET, RunningOms, call_metadata, token
from tests.support.orders import error_reason, limit_buy

pytestmark = pytest.mark.timeout(30)

Code = grpc.StatusCode
TRADER = call_metadata()
ORDERS_BETWEEN = 5


def _token_with_exp(exp: object) -> str:
    claims = {"sub": "mallory", "role": Role.TRADER.value, "accounts": ["ACC1"], "exp": exp}
    return jwt.encode(claims, TEST_SECRET, algorithm=ALGORITHM)


async def _get_order_code(oms: RunningOms, metadata: tuple) -> Code:
    try:
        await oms.orders.GetOrder(pb.GetOrderRequest(order_id="0" * 26), metadata=metadata)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return Code.OK


async def test_a_string_exp_is_refused(oms_sqlite: RunningOms) -> None:
    far = int(time.time()) + 3600
    numeric = (("authorization", f"Bearer {_token_with_exp(far)}"),)
    textual = (("authorization", f"Bearer {_token_with_exp(str(far))}"),)
    assert await _get_order_code(oms_sqlite, numeric) == Code.NOT_FOUND
    assert await _get_order_code(oms_sqlite, textual) == Code.UNAUTHENTICATED


async def test_two_authorization_headers_are_refused(oms_sqlite: RunningOms) -> None:
    good = ("authorization", f"Bearer {token()}")
    other = ("authorization", f"Bearer {token(Role.ADMIN, ())}")
    assert await _get_order_code(oms_sqlite, (good,)) == Code.NOT_FOUND
    assert await _get_order_code(oms_sqlite, (("authorization", "Bearer x"), good)) == (
        Code.UNAUTHENTICATED
    )
    assert await _get_order_code(oms_sqlite, (good, other)) == Code.UNAUTHENTICATED


async def test_from_sequence_past_the_head_is_out_of_range(oms_sqlite: RunningOms) -> None:
    await oms_sqlite.orders.SubmitOrder(limit_buy("head-1"), metadata=TRADER)
    call = oms_sqlite.orders.StreamExecutionReports(
        pb.StreamExecutionReportsRequest(account_id="ACC1", from_sequence=10**9),
        metadata=TRADER,
        timeout=5.0,
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in call:
            pass
    assert refused.value.code() == Code.OUT_OF_RANGE
    assert error_reason(refused.value) == "SEQUENCE_PAST_HEAD"


async def test_order_ids_do_not_count_other_accounts_orders(oms_sqlite: RunningOms) -> None:
    other = call_metadata(Role.TRADER, ("ACC2",))
    ids = []
    for round_number in range(4):
        reply = await oms_sqlite.orders.SubmitOrder(
            limit_buy(f"mine-{round_number}"), metadata=TRADER
        )
        ids.append(reply.order.order_id)
        for i in range(ORDERS_BETWEEN):
            await oms_sqlite.orders.SubmitOrder(
                limit_buy(f"theirs-{round_number}-{i}", account_id="ACC2"), metadata=other
            )
    assert ids == sorted(ids), "order ids must still sort by creation"
    counters = [int(i[-COUNTER_DIGITS:], 16) for i in ids]
    gaps = [b - a for a, b in itertools.pairwise(counters)]
    assert gaps != [ORDERS_BETWEEN + 1] * len(gaps), f"ids leak a counter: {ids}"

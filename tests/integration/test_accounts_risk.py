"""Accounts, reservations and pre-trade risk, through the real API and real venues."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from oms_server.domain.access import Role
from protos.oms.v1 import account_service_pb2 as apb
from protos.oms.v1 import account_service_pb2_grpc, common_pb2
from protos.oms.v1 import order_service_pb2 as pb
from tests.support.fixtures import RunningOms, call_metadata
from tests.support.market import Market, RoutedOms
from tests.support.orders import error_reason, limit_buy
from tests.support.reports import final_order
from tests.support.waiting import eventually

ADMIN = call_metadata(Role.ADMIN, ())
R1 = call_metadata(accounts=("R1",))


def accounts_stub(oms: RunningOms) -> account_service_pb2_grpc.AccountServiceStub:
    assert oms.channel is not None
    return account_service_pb2_grpc.AccountServiceStub(oms.channel)


async def open_account(oms: RunningOms, account_id: str, cash: str, **limits: object) -> None:
    stub = accounts_stub(oms)
    await stub.CreateAccount(apb.CreateAccountRequest(account_id=account_id), metadata=ADMIN)
    await stub.Deposit(apb.DepositRequest(account_id=account_id, amount=cash), metadata=ADMIN)
    if limits:
        await stub.SetRiskLimits(
            apb.SetRiskLimitsRequest(account_id=account_id, risk_limits=apb.RiskLimits(**limits)),
            metadata=ADMIN,
        )


async def balances(oms: RunningOms, account_id: str = "R1") -> tuple[str, str, dict[str, tuple]]:
    reply = await accounts_stub(oms).GetAccount(
        apb.GetAccountRequest(account_id=account_id), metadata=ADMIN
    )
    account = reply.account
    positions = {p.symbol: (p.quantity, p.average_cost) for p in account.positions}
    return account.cash, account.reserved_cash, positions


async def test_reservations_follow_an_order_through_replace_cancel_fill_and_reject(
    routed_oms: RoutedOms, market: Market
) -> None:
    await open_account(routed_oms, "R1", "100000")
    resting = (
        await routed_oms.orders.SubmitOrder(
            limit_buy("rest", account_id="R1", quantity="100", limit_price="189.50"), metadata=R1
        )
    ).order
    # 100 x 189.50 plus the largest taker fee (ALPHA, 3 bps): 18950 + 5.685.
    assert await balances(routed_oms) == ("100000", "18955.685", {})
    pending = (
        await routed_oms.orders.ReplaceOrder(
            pb.ReplaceOrderRequest(order_id=resting.order_id, quantity="200"), metadata=R1
        )
    ).order
    # Children are working, so the replace completes asynchronously; the new id is known now.
    assert pending.state == common_pb2.ORDER_STATE_PENDING_REPLACE
    old = await final_order(routed_oms, resting.order_id, account="R1")
    assert old.state == common_pb2.ORDER_STATE_REPLACED
    assert old.replaced_by_order_id == pending.replaced_by_order_id

    async def reserved_for_200() -> bool:
        return (await balances(routed_oms))[1] == "37911.37"

    await eventually(reserved_for_200, message="reservation for 200 @ 189.50 + fee")
    await routed_oms.orders.CancelOrder(
        pb.CancelOrderRequest(order_id=old.replaced_by_order_id), metadata=R1
    )
    await final_order(routed_oms, old.replaced_by_order_id, account="R1")
    assert await balances(routed_oms) == ("100000", "0", {})

    taker = (
        await routed_oms.orders.SubmitOrder(
            limit_buy("take", account_id="R1", quantity="500", limit_price="190.02"), metadata=R1
        )
    ).order
    filled = await final_order(routed_oms, taker.order_id, account="R1")
    assert filled.state == common_pb2.ORDER_STATE_FILLED
    # BRAVO 400 @ 190.02 (fee 7.6008) and ALPHA 100 @ 190.01 (fee 5.7003): 95022.3011 spent.
    assert await balances(routed_oms) == ("4977.6989", "0", {"AAPL": ("500", "190.0446022")})

    await market.set_faults("BRAVO", reject=1.0)
    rejected = (
        await routed_oms.orders.SubmitOrder(
            limit_buy(
                "rej",
                account_id="R1",
                quantity="10",
                limit_price="190.02",
                routing_strategy=common_pb2.ROUTING_STRATEGY_DIRECT,
                venue="BRAVO",
            ),
            metadata=R1,
        )
    ).order
    assert (await balances(routed_oms))[1] != "0"
    done = await final_order(routed_oms, rejected.order_id, account="R1")
    assert done.state == common_pb2.ORDER_STATE_REJECTED
    assert await balances(routed_oms) == ("4977.6989", "0", {"AAPL": ("500", "190.0446022")})


async def test_500_concurrent_buys_against_an_account_that_affords_100(
    oms_sqlite: RunningOms,
) -> None:
    await open_account(oms_sqlite, "R1", "19000")  # 100 x 1 AAPL @ 190.00 (no venue fees)

    async def buy(i: int) -> str:
        try:
            await oms_sqlite.orders.SubmitOrder(
                limit_buy(f"b{i}", account_id="R1", quantity="1", limit_price="190.00"),
                metadata=R1,
            )
            return "accepted"
        except grpc.aio.AioRpcError as exc:
            return error_reason(exc)

    outcomes = await asyncio.gather(*(buy(i) for i in range(500)))
    assert outcomes.count("accepted") == 100
    assert outcomes.count("RISK_INSUFFICIENT_FUNDS") == 400
    cash, reserved, _ = await balances(oms_sqlite)
    assert (cash, reserved) == ("19000", "19000")


RULES = [
    ({"account_id": "NOSUCH"}, {}, "ACCOUNT_NOT_FOUND", grpc.StatusCode.FAILED_PRECONDITION),
    (
        {"symbol": "MSFT", "limit_price": "419.00"},
        {"restricted_symbols": ["MSFT"]},
        "RISK_RESTRICTED_SYMBOL",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    (
        {"quantity": "101"},
        {"max_order_quantity": "100"},
        "RISK_MAX_ORDER_QUANTITY",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    (
        {"quantity": "60"},
        {"max_order_notional": "10000"},
        "RISK_MAX_ORDER_NOTIONAL",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    (
        {"limit_price": "200.00"},
        {"price_collar_bps": "100"},
        "RISK_PRICE_COLLAR",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    (
        {"symbol": "NOBOOK", "limit_price": "10.00"},
        {},
        "RISK_NO_REFERENCE_PRICE",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    ({"quantity": "600"}, {}, "RISK_INSUFFICIENT_FUNDS", grpc.StatusCode.FAILED_PRECONDITION),
    (
        {"side": common_pb2.SIDE_SELL},
        {},
        "RISK_INSUFFICIENT_POSITION",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
]


@pytest.mark.parametrize(("order", "limits", "rule", "code"), RULES)
async def test_each_risk_rule_refuses_naming_the_rule_and_nothing_reaches_a_venue(
    routed_oms: RoutedOms,
    market: Market,
    order: dict[str, object],
    limits: dict[str, object],
    rule: str,
    code: grpc.StatusCode,
) -> None:
    await open_account(routed_oms, "R1", "100000", **limits)
    metadata = ADMIN if order.get("account_id") == "NOSUCH" else R1
    fields = {"account_id": "R1", "quantity": "10", "limit_price": "190.00", **order}
    before = market.orders_received()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await routed_oms.orders.SubmitOrder(limit_buy("risky", **fields), metadata=metadata)
    assert refused.value.code() == code
    assert error_reason(refused.value) == rule
    assert rule in (refused.value.details() or "")
    assert market.orders_received() == before
    assert routed_oms.app is not None and routed_oms.app.store is not None
    assert await routed_oms.app.store.count("orders") == 0


async def test_the_order_rate_throttle_answers_resource_exhausted(oms_sqlite: RunningOms) -> None:
    await open_account(oms_sqlite, "R1", "100000", max_orders_per_second=5)
    outcomes = []
    for i in range(8):
        try:
            await oms_sqlite.orders.SubmitOrder(
                limit_buy(f"t{i}", account_id="R1", quantity="1"), metadata=R1
            )
            outcomes.append("ok")
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            outcomes.append(error_reason(exc))
    assert outcomes[:5] == ["ok"] * 5
    assert "RISK_ORDER_RATE" in outcomes[5:]


async def test_account_admin_calls_validate_their_fields(oms_sqlite: RunningOms) -> None:
    stub = accounts_stub(oms_sqlite)
    cases = [
        (
            stub.Deposit(apb.DepositRequest(account_id="ACC1", amount="-5"), metadata=ADMIN),
            "amount",
        ),
        (
            stub.Deposit(apb.DepositRequest(account_id="ACC1", amount="1e9"), metadata=ADMIN),
            "amount",
        ),
        (stub.CreateAccount(apb.CreateAccountRequest(account_id=""), metadata=ADMIN), "account_id"),
    ]
    from tests.support.orders import field_violations

    for call, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(refused.value) == [field]
    with pytest.raises(grpc.aio.AioRpcError) as exists:
        await stub.CreateAccount(apb.CreateAccountRequest(account_id="ACC1"), metadata=ADMIN)
    assert exists.value.code() == grpc.StatusCode.ALREADY_EXISTS

"""Getting a system ready for load: funded accounts, and books from every venue.

The benchmark measures the OMS, not its risk limits: each account gets far more cash
than a run can spend and an order-rate limit far above any offered rate. Every order
still goes through every pre-trade check. Load starts only once the OMS quotes the
symbol from every venue, so the first orders are routed like the last.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import grpc

from clients.bench.orders import CALL_TIMEOUT_S, CHANNEL_OPTIONS
from protos.oms.v1 import account_service_pb2 as pb
from protos.oms.v1 import account_service_pb2_grpc as pb_grpc
from protos.oms.v1 import market_data_service_pb2 as md
from protos.oms.v1 import market_data_service_pb2_grpc as md_grpc

#: Cash given to each bench account (a sustained run spends about 2e9).
DEPOSIT = "1000000000000"
#: Order notional and rate limits far above what any scenario sends.
MAX_ORDER_NOTIONAL = "1000000000"
MAX_ORDERS_PER_SECOND = 1_000_000
#: Venues the bench scenario has; load waits (bounded) until the OMS quotes them all.
EXPECTED_VENUES = 3
MARKET_WAIT_S = 15.0
MARKET_POLL_S = 0.1


async def wait_for_market(address: str, metadata: tuple[tuple[str, str], ...], symbol: str) -> int:
    """How many venues the OMS quotes ``symbol`` from, once all expected do (or time is up)."""
    deadline = time.monotonic() + MARKET_WAIT_S
    async with grpc.aio.insecure_channel(address, options=list(CHANNEL_OPTIONS)) as channel:
        stub = md_grpc.MarketDataServiceStub(channel)
        while True:
            reply = await stub.GetQuote(
                md.GetQuoteRequest(symbol=symbol), metadata=metadata, timeout=CALL_TIMEOUT_S
            )
            quoted = sum(1 for v in reply.quote.venues if v.ask_price and v.bid_price)
            if quoted >= EXPECTED_VENUES or time.monotonic() > deadline:
                return quoted
            await asyncio.sleep(MARKET_POLL_S)


async def prepare_accounts(
    address: str, admin_metadata: tuple[tuple[str, str], ...], accounts: Sequence[str]
) -> None:
    """Create (unless it exists), fund and set the limits of each of ``accounts``."""
    async with grpc.aio.insecure_channel(address, options=list(CHANNEL_OPTIONS)) as channel:
        stub = pb_grpc.AccountServiceStub(channel)
        for account_id in accounts:
            await _create(stub, account_id, admin_metadata)
            await stub.Deposit(
                pb.DepositRequest(account_id=account_id, amount=DEPOSIT),
                metadata=admin_metadata,
                timeout=CALL_TIMEOUT_S,
            )
            limits = pb.RiskLimits(
                max_order_notional=MAX_ORDER_NOTIONAL, max_orders_per_second=MAX_ORDERS_PER_SECOND
            )
            await stub.SetRiskLimits(
                pb.SetRiskLimitsRequest(account_id=account_id, risk_limits=limits),
                metadata=admin_metadata,
                timeout=CALL_TIMEOUT_S,
            )


async def _create(
    stub: pb_grpc.AccountServiceStub, account_id: str, metadata: tuple[tuple[str, str], ...]
) -> None:
    request = pb.CreateAccountRequest(account_id=account_id)
    try:
        await stub.CreateAccount(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
    except grpc.aio.AioRpcError as exc:
        if exc.code() is not grpc.StatusCode.ALREADY_EXISTS:
            raise

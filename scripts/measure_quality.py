"""Execution quality on a running stack: N marketable IOC orders, then the summary.

    .venv/bin/oms up &                      # the default scenario
    .venv/bin/python scripts/measure_quality.py --orders 1200

Orders go one at a time (each waits until final), so they do not compete with each
other for the displayed liquidity their benchmark was computed from. Random symbols,
sides and sizes (seeded); limit 10 cents through the touch. Prints the order states
and the quality summary that `omsctl quality` shows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
from decimal import Decimal
from pathlib import Path

from clients.bench.orders import FINAL_STATES
from clients.quality import summarize
from clients.sdk import OmsClient
from clients.sdk.errors import OmsError
from oms_server.api.auth import issue_token
from oms_server.domain.access import Role
from oms_server.state import AUTH_SECRET_ENV, read_auth_secret, state_dir
from protos.oms.v1 import account_service_pb2, common_pb2

THROUGH_THE_TOUCH = Decimal("0.10")
POLL_S = 0.005


async def run(target: str, token: str, account: str, orders: int, seed: int) -> None:
    rng = random.Random(seed)
    refused: dict[str, int] = {}
    async with OmsClient(target, token) as client:
        await prepare(client, account)
        symbols = [i.symbol for i in await client.list_instruments()]
        sent = 0
        while sent < orders:
            symbol, side = rng.choice(symbols), rng.choice(["buy", "sell"])
            quote = await client.get_quote(symbol)
            touch = quote.ask_price if side == "buy" else quote.bid_price
            if not touch:
                await asyncio.sleep(0.05)  # that side is empty until the market maker requotes
                continue
            step = THROUGH_THE_TOUCH if side == "buy" else -THROUGH_THE_TOUCH
            sent += 1
            try:
                order = await client.submit_order(
                    account_id=account, client_order_id=f"quality-{seed}-{sent}", symbol=symbol,
                    side=side, quantity=str(rng.choice([100, 300, 800, 1500, 3000])),
                    limit_price=str(Decimal(touch) + step), time_in_force="ioc",
                )  # fmt: skip
            except OmsError as exc:
                refused[exc.reason] = refused.get(exc.reason, 0) + 1
                continue
            while order.state not in FINAL_STATES:
                await asyncio.sleep(POLL_S)
                order = await client.get_order(order.order_id)
        report([o async for o in client.iter_orders(account)], refused)


async def prepare(client: OmsClient, account: str) -> None:
    """Enough cash, shorting allowed, no rate limit in the way."""
    await client.deposit(account, "100000000000")
    limits = account_service_pb2.RiskLimits(allow_short=True, max_orders_per_second=100_000)
    await client.set_risk_limits(account, limits)


def report(orders: list, refused: dict[str, int]) -> None:
    states: dict[str, int] = {}
    for order in orders:
        name = common_pb2.OrderState.Name(order.state)
        states[name] = states.get(name, 0) + 1
    unbenchmarked = sum(1 for o in orders if o.arrival_price and not o.best_single_venue_price)
    print(f"orders: {len(orders)} {states}; refused: {refused}")
    print(f"no single venue could fill the whole order: {unbenchmarked}")
    print(summarize(orders))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50051")
    parser.add_argument("--account", default="DEMO")
    parser.add_argument("--orders", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--state-dir", type=Path, help="the server's (default: OMS_STATE_DIR)")
    args = parser.parse_args()
    secret = read_auth_secret(args.state_dir or state_dir(), os.environ.get(AUTH_SECRET_ENV))
    token = issue_token(secret, "quality", Role.ADMIN)
    asyncio.run(run(args.target, token, args.account, args.orders, args.seed))


if __name__ == "__main__":
    main()

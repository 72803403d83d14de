"""CPU of the order engine per routed order, in one process: no gRPC, no NATS, no venue.

    .venv/bin/python scripts/measure_engine.py --orders 5000 --rounds 5

The engine as the OMS runs it, on uvloop, with a real store (a SQLite file and its
writer thread). In place of the venue connector, a stand-in answers every child the
engine sends with a NEW and a FILL at the child's limit (as oms-bench's deep static
books do), handed to the engine in batches as the connector hands them. Each round
submits N marketable IOC buys of 300 that the liquidity strategy splits across three
venues (oms-bench e2e's orders), ``--clients`` at a time, and ends when every parent is
final. Prints, per order, the CPU of the event-loop thread (``time.thread_time``: the
thread that limits the OMS) and of the whole process; the median round last.

What oms-bench cannot give: figures steady enough to see a change of five percent in
the engine's own work, because nothing else (gRPC, NATS, the venues, the load
generator) shares the run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from clients.bench.aio import run as run_loop
from oms_server.domain.access import Principal, Role
from oms_server.domain.accounts import RiskLimits
from oms_server.domain.child import ChildOrder, ChildState, Liquidity, VenueExecType, VenueReport
from oms_server.domain.enums import OrderType, RoutingStrategy, Side, TimeInForce
from oms_server.domain.instruments import Instrument
from oms_server.domain.order import OrderRequest
from oms_server.engine.engine import OrderEngine
from oms_server.engine.hub import ReportHub
from oms_server.store.repository import Store
from router.book import Level, VenueBook, VenueInfo
from venues.tasks import cancel_and_wait

SYMBOL = "BNCH"
VENUES = ("ALPHA", "BRAVO", "CHARLIE")
ACCOUNT = "BENCH"
TAKE_PRICE = Decimal("100.01")
TAKE_QTY = Decimal(300)
DEEP = Decimal(1_000_000_000)
FEE_BPS = Decimal("0.30")
#: Children answered per batch handed to the engine (the connector's fetch batch).
REPORT_BATCH = 256
WARMUP_ORDERS = 500


class StandInVenues:
    """Deep static books at three venues; every child is filled in full at its limit."""

    publishes_books = True

    def __init__(self) -> None:
        self._books = {
            venue: VenueBook(
                venue,
                SYMBOL,
                bids=(Level(Decimal("99.99"), DEEP),),
                asks=(Level(TAKE_PRICE, DEEP),),
            )
            for venue in VENUES
        }
        self._infos = {
            venue: VenueInfo(venue, FEE_BPS, Decimal("0.20"), 0.1, True) for venue in VENUES
        }
        self.sent: list[ChildOrder] = []
        self.arrived = asyncio.Event()
        self._exec_ids = itertools.count(1)

    def books(self, symbol: str) -> Mapping[str, VenueBook]:
        return self._books if symbol == SYMBOL else {}

    def venue_infos(self) -> Mapping[str, VenueInfo]:
        return self._infos

    def send_new(self, child: ChildOrder) -> None:
        self.sent.append(child)
        self.arrived.set()

    def send_cancel(self, child: ChildOrder) -> None:
        raise AssertionError(f"nothing is cancelled here ({child.child_order_id})")

    def answers(self, children: list[ChildOrder]) -> list[VenueReport]:
        """A NEW and a full FILL at its limit for each child."""
        reports = []
        for child in children:
            price = child.limit_price or TAKE_PRICE
            reports.append(
                self._report(child, VenueExecType.NEW, ChildState.NEW, leaves_qty=child.quantity)
            )
            reports.append(
                self._report(
                    child,
                    VenueExecType.TRADE,
                    ChildState.FILLED,
                    last_qty=child.quantity,
                    last_price=price,
                    cum_qty=child.quantity,
                    fee=(child.quantity * price * FEE_BPS / 10_000).quantize(Decimal("0.0001")),
                    liquidity=Liquidity.TAKER,
                )
            )
        return reports

    def _report(
        self, child: ChildOrder, exec_type: VenueExecType, status: ChildState, **fields: Any
    ) -> VenueReport:
        return VenueReport(
            venue=child.venue,
            exec_id=f"{child.venue}-{next(self._exec_ids)}",
            child_order_id=child.child_order_id,
            exec_type=exec_type,
            status=status,
            **fields,
        )


async def answer_children(engine: OrderEngine, venues: StandInVenues) -> None:
    """The connector's part: hand the venues' reports to the engine, a batch at a time."""
    while True:
        await venues.arrived.wait()
        venues.arrived.clear()
        while venues.sent:
            batch, venues.sent = venues.sent[:REPORT_BATCH], venues.sent[REPORT_BATCH:]
            await engine.apply_venue_reports(venues.answers(batch))


async def submit_all(engine: OrderEngine, ids: range, clients: int, prefix: str) -> None:
    principal = Principal("bench", Role.ADMIN)
    numbers = iter(ids)

    async def client() -> None:
        for number in numbers:
            request = OrderRequest(
                account_id=ACCOUNT,
                client_order_id=f"{prefix}-{number}",
                symbol=SYMBOL,
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                time_in_force=TimeInForce.IOC,
                quantity=TAKE_QTY,
                limit_price=TAKE_PRICE,
                stop_price=None,
                routing_strategy=RoutingStrategy.LIQUIDITY,
                venue="",
            )
            await engine.submit(request, principal)

    await asyncio.gather(*(client() for _ in range(clients)))


async def until_all_final(engine: OrderEngine) -> None:
    """Wait for the last parent to end (each report the hub publishes may end one)."""
    subscription = engine.hub.subscribe(ACCOUNT)
    try:
        while engine.working_orders():
            if await subscription.next_batch(10_000) is None:  # dropped as too slow
                subscription = engine.hub.subscribe(ACCOUNT)
    finally:
        subscription.close()


@dataclass(frozen=True)
class RoundFigures:
    """One round: CPU per order of the event-loop thread and of the process, and the rate."""

    loop_us: float
    process_us: float
    orders_per_s: float


async def one_round(engine: OrderEngine, orders: int, clients: int, prefix: str) -> RoundFigures:
    loop_cpu, process_cpu, wall = time.thread_time(), time.process_time(), time.perf_counter()
    await submit_all(engine, range(orders), clients, prefix)
    await until_all_final(engine)
    return RoundFigures(
        loop_us=(time.thread_time() - loop_cpu) / orders * 1e6,
        process_us=(time.process_time() - process_cpu) / orders * 1e6,
        orders_per_s=orders / (time.perf_counter() - wall),
    )


async def main(orders: int, rounds: int, clients: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(f"sqlite+aiosqlite:///{Path(tmp) / 'oms.db'}")
        instrument = Instrument(SYMBOL, Decimal("0.01"), Decimal(1), Decimal("100.00"))
        venues = StandInVenues()
        engine = OrderEngine(store, {SYMBOL: instrument}, ReportHub(), venues=venues)
        await engine.start()
        answering = asyncio.create_task(answer_children(engine, venues))
        try:
            await engine.create_account(ACCOUNT)
            await engine.deposit(ACCOUNT, Decimal(10) ** 15)
            limits = RiskLimits(max_order_notional=Decimal(10) ** 9, max_orders_per_second=10**6)
            await engine.set_risk_limits(ACCOUNT, limits)
            await one_round(engine, WARMUP_ORDERS, clients, "warmup")
            results = []
            for index in range(rounds):
                figures = await one_round(engine, orders, clients, f"r{index}")
                results.append(figures)
                print(
                    f"round {index + 1}: {orders} orders, event-loop thread"
                    f" {figures.loop_us:.1f} us/order, process {figures.process_us:.1f}"
                    f" us/order, {figures.orders_per_s:,.0f} orders/s"
                )
            print(
                f"median: event-loop thread {statistics.median(r.loop_us for r in results):.1f}"
                f" us/order, process {statistics.median(r.process_us for r in results):.1f}"
                " us/order"
            )
        finally:
            await cancel_and_wait([answering], "stand-in venues")
            await engine.stop()
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5000, help="orders per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=50, help="submits in flight")
    args = parser.parse_args()
    run_loop(main(args.orders, args.rounds, args.clients))

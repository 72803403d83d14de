"""CPU per group commit on SQLite: the SQLAlchemy path against the stdlib sqlite3 writer.

    .venv/bin/python scripts/measure_commit.py --rounds 300

Each round commits, on both stores in turn, a batch of new work (N new orders, N
events, N children) and a batch of fills (N order updates, 2N executions). Reported
per commit: CPU of the event-loop thread around the awaited commit (the thread that
limits the OMS), CPU of the whole process (the writer thread included) and wall time.
The two paths run interleaved in one process, so a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from oms_server.domain.child import ChildOrder, Liquidity, VenueExecType, VenueReport
from oms_server.domain.enums import (
    ExecType,
    OrderState,
    OrderType,
    RoutingStrategy,
    Side,
    TimeInForce,
)
from oms_server.domain.order import Order
from oms_server.engine.ports import AppliedReport
from oms_server.store.database import create_engine, create_schema
from oms_server.store.journal import JournalBatch
from oms_server.store.repository import Store
from oms_server.store.rows import child_to_row, execution_to_row, order_to_row, report_to_row

WARMUP_ROUNDS = 20


@dataclass
class Totals:
    """CPU sums and wall times of the measured commits of one path and one kind of batch."""

    loop_cpu_s: float = 0.0
    process_cpu_s: float = 0.0
    walls: list[float] = field(default_factory=list)

    @property
    def commits(self) -> int:
        return len(self.walls)

    @property
    def wall_s(self) -> float:
        return sum(self.walls)


async def main(rounds: int, rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        stores = {
            "sqlalchemy": await sqlalchemy_store(f"sqlite+aiosqlite:///{Path(tmp) / 'a.db'}"),
            "sqlite3": await Store.open(f"sqlite+aiosqlite:///{Path(tmp) / 'b.db'}"),
        }
        totals: dict[tuple[str, str], Totals] = defaultdict(Totals)
        sequence = 0
        for number in range(WARMUP_ROUNDS + rounds):
            batches = make_batches(number, rows, sequence)
            sequence += rows
            for path, store in stores.items():
                for kind, batch in batches.items():
                    spent = await timed_commit(store, batch)
                    if number >= WARMUP_ROUNDS:
                        add(totals[path, kind], spent)
        await check_same_rows(stores)
        for store in stores.values():
            await store.close()
    report(totals, rows)


async def sqlalchemy_store(url: str) -> Store:
    """A store on the SQLAlchemy write path (no stdlib writer)."""
    engine = create_engine(url)
    await create_schema(engine)
    return Store(engine)


async def timed_commit(store: Store, batch: JournalBatch) -> tuple[float, float, float]:
    loop_cpu, process_cpu, wall = time.thread_time(), time.process_time(), time.perf_counter()
    await store.commit(batch)
    return (
        time.thread_time() - loop_cpu,
        time.process_time() - process_cpu,
        time.perf_counter() - wall,
    )


def add(totals: Totals, spent: tuple[float, float, float]) -> None:
    totals.loop_cpu_s += spent[0]
    totals.process_cpu_s += spent[1]
    totals.walls.append(spent[2])


def make_batches(number: int, rows: int, sequence: int) -> dict[str, JournalBatch]:
    """New work for ``rows`` orders, then their fills (same objects, updated)."""
    new, fills = JournalBatch(), JournalBatch()
    for i in range(rows):
        order, child = new_order(f"{number}-{i}", i)
        report = order.report(sequence + i + 1, ExecType.NEW, time.time_ns())
        new.upsert("orders", order.order_id, order_to_row(order), is_new=True)
        new.append("order_events", report_to_row(report))
        new.upsert("child_orders", child.child_order_id, child_to_row(child), is_new=True)
        for fill in range(2):
            venue_report = fill_child(order, child, fill)
            applied = AppliedReport(venue_report, order.order_id, f"{order.order_id}.{fill + 2}")
            fills.append("executions", execution_to_row(applied))
        order.state = OrderState.FILLED
        fills.upsert("orders", order.order_id, order_to_row(order), is_new=False)
    return {"new": new, "fills": fills}


def new_order(key: str, i: int) -> tuple[Order, ChildOrder]:
    price = Decimal("190.00") + Decimal(i % 37) / 100
    order = Order(
        order_id=f"O-{key}",
        account_id=f"ACC{i % 4}",
        client_order_id=f"C-{key}",
        symbol="AAPL",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.DAY,
        quantity=Decimal(100 + i),
        limit_price=price,
        stop_price=None,
        routing_strategy=RoutingStrategy.BEST_PRICE,
        venue="",
        state=OrderState.NEW,
        created_ns=time.time_ns(),
        updated_ns=time.time_ns(),
        version=1,
    )
    child = ChildOrder(
        child_order_id=f"{order.order_id}-1",
        parent_order_id=order.order_id,
        account_id=order.account_id,
        venue="XNAS",
        symbol=order.symbol,
        side=order.side,
        order_type=order.order_type,
        time_in_force=TimeInForce.IOC,
        quantity=order.quantity,
        limit_price=price,
        created_ns=order.created_ns,
        updated_ns=order.updated_ns,
        sent_ns=order.created_ns,
    )
    return order, child


def fill_child(order: Order, child: ChildOrder, fill: int) -> VenueReport:
    qty = order.quantity / 2
    price = (order.limit_price or Decimal(0)) - Decimal("0.01") * fill
    fee = (qty * price * Decimal("0.0003")).quantize(Decimal("1e-8"))
    order.cum_qty += qty
    order.cum_notional += qty * price
    order.fees += fee
    order.version += 1
    return VenueReport(
        venue=child.venue,
        exec_id=f"X-{child.child_order_id}-{fill}",
        child_order_id=child.child_order_id,
        exec_type=VenueExecType.TRADE,
        status=child.state,
        last_qty=qty,
        last_price=price,
        cum_qty=order.cum_qty,
        leaves_qty=order.quantity - order.cum_qty,
        fee=fee,
        liquidity=Liquidity.TAKER,
        transact_ns=time.time_ns(),
    )


async def check_same_rows(stores: dict[str, Store]) -> None:
    tables = ("orders", "order_events", "child_orders", "executions")
    counts = {path: [await s.count(t) for t in tables] for path, s in stores.items()}
    if len(set(map(tuple, counts.values()))) != 1:
        raise SystemExit(f"the two paths stored different row counts: {counts}")


def report(totals: dict[tuple[str, str], Totals], rows: int) -> None:
    print(f"batches: new = {rows} orders + {rows} events + {rows} children; ", end="")
    print(f"fills = {rows} order updates + {2 * rows} executions")
    print(f"{'path':<11} {'batch':<6} {'commits':>7} {'loop CPU':>10} {'proc CPU':>10} ", end="")
    print(f"{'wall mean':>10} {'wall p50':>10}   (per commit)")
    for (path, kind), t in sorted(totals.items(), key=lambda item: (item[0][1], item[0][0])):
        p50 = statistics.median(t.walls)
        print(
            f"{path:<11} {kind:<6} {t.commits:>7} {us(t.loop_cpu_s / t.commits):>10} "
            f"{us(t.process_cpu_s / t.commits):>10} {us(t.wall_s / t.commits):>10} {us(p50):>10}"
        )
    for kind in sorted({k for _, k in totals}):
        old, new = totals["sqlalchemy", kind], totals["sqlite3", kind]
        saved = 1 - (new.loop_cpu_s / new.commits) / (old.loop_cpu_s / old.commits)
        print(f"{kind}: the sqlite3 writer saves {saved:.0%} of the event loop's CPU per commit")


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} us"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300, help="measured rounds per path")
    parser.add_argument("--rows", type=int, default=50, help="orders per batch")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.rows))

"""A store as the wave-1 OMS (commit 0f5cb75) left it, for the migration tests.

``WAVE1`` is a copy of 0f5cb75's oms_server/store/schema.py tables (decimal columns are
its DecimalString's String(40); Python-side defaults left out, they make no DDL), made
with ``create_all`` as that OMS made them. ``WAVE1_ROWS`` is what a real wave-1 stack
wrote (tests/data/wave1_store.json; tests/data/make_wave1_store.py made it).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.asyncio import AsyncEngine

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "wave1_store.json"
NS_PER_DAY = 86_400 * 1_000_000_000


def moved_to_today(rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """``rows`` with every time (the ``*_ns`` columns) moved by whole days to today, UTC.

    The wave-1 stack wrote them on 2026-12-03, and today's OMS rightly expires at
    start-up the DAY orders of a day that is over: without the move, what the upgrade
    keeps would depend on the date the tests run. Whole days keep every time of day.
    """
    newest = max(v for table in rows.values() for row in table for k, v in _times(row))
    shift = (time.time_ns() // NS_PER_DAY - newest // NS_PER_DAY) * NS_PER_DAY

    def moved(row: dict[str, Any]) -> dict[str, Any]:
        return {**row, **{k: v + shift for k, v in _times(row)}}

    return {table: [moved(row) for row in table_rows] for table, table_rows in rows.items()}


def _times(row: dict[str, Any]) -> list[tuple[str, int]]:
    """The times a row holds (its nonzero ``*_ns`` columns)."""
    return [(k, v) for k, v in row.items() if k.endswith("_ns") and v]


#: Its rows by table: every value as the wave-1 store held it, its times moved to today.
WAVE1_ROWS: dict[str, list[dict[str, Any]]] = moved_to_today(json.loads(FIXTURE.read_text()))

DECIMAL = String(40)
WAVE1 = MetaData()

Table(
    "orders",
    WAVE1,
    Column("order_id", String(40), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("client_order_id", String(64), nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("side", String(8), nullable=False),
    Column("order_type", String(16), nullable=False),
    Column("time_in_force", String(8), nullable=False),
    Column("quantity", DECIMAL, nullable=False),
    Column("limit_price", DECIMAL),
    Column("stop_price", DECIMAL),
    Column("routing_strategy", String(16), nullable=False),
    Column("venue", String(32), nullable=False),
    Column("state", String(20), nullable=False),
    Column("cum_qty", DECIMAL, nullable=False),
    Column("cum_notional", DECIMAL, nullable=False),
    Column("text", Text, nullable=False),
    Column("sender", String(64), nullable=False),
    Column("replaces_order_id", String(40), nullable=False),
    Column("replaced_by_order_id", String(40), nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("fees", DECIMAL, nullable=False),
    Column("arrival_price", DECIMAL),
    Column("single_venue_price", DECIMAL),
    Column("reroutes", Integer, nullable=False),
    Column("reserve_price", DECIMAL),
    UniqueConstraint("account_id", "client_order_id", name="uq_orders_account_clordid"),
    Index("ix_orders_account_created", "account_id", "created_ns"),
    Index("ix_orders_state", "state"),
)

Table(
    "order_events",
    WAVE1,
    Column("account_id", String(64), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("exec_id", String(64), nullable=False, unique=True),
    Column("order_id", String(40), nullable=False),
    Column("client_order_id", String(64), nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("side", String(8), nullable=False),
    Column("exec_type", String(20), nullable=False),
    Column("order_state", String(20), nullable=False),
    Column("last_qty", DECIMAL, nullable=False),
    Column("last_price", DECIMAL, nullable=False),
    Column("last_venue", String(32), nullable=False),
    Column("cum_qty", DECIMAL, nullable=False),
    Column("leaves_qty", DECIMAL, nullable=False),
    Column("avg_price", DECIMAL, nullable=False),
    Column("text", Text, nullable=False),
    Column("transact_ns", BigInteger, nullable=False),
    PrimaryKeyConstraint("account_id", "sequence", name="pk_order_events"),
    Index("ix_order_events_order", "order_id", "sequence"),
)

Table(
    "child_orders",
    WAVE1,
    Column("child_order_id", String(48), primary_key=True),
    Column("parent_order_id", String(40), nullable=False, index=True),
    Column("account_id", String(64), nullable=False),
    Column("venue", String(32), nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("side", String(8), nullable=False),
    Column("order_type", String(16), nullable=False),
    Column("time_in_force", String(8), nullable=False),
    Column("quantity", DECIMAL, nullable=False),
    Column("limit_price", DECIMAL),
    Column("state", String(20), nullable=False),
    Column("cum_qty", DECIMAL, nullable=False),
    Column("cum_notional", DECIMAL, nullable=False),
    Column("fees", DECIMAL, nullable=False),
    Column("purpose", String(8), nullable=False),
    Column("venue_cum_qty", DECIMAL, nullable=False),
    Column("venue_done", Integer, nullable=False),
    Column("cancel_requested", Integer, nullable=False),
    Column("resends", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
    Column("sent_ns", BigInteger, nullable=False),
    Index("ix_child_orders_done", "venue_done"),
)

Table(
    "executions",
    WAVE1,
    Column("venue", String(32), nullable=False),
    Column("exec_id", String(64), nullable=False),
    Column("child_order_id", String(48), nullable=False, index=True),
    Column("parent_order_id", String(40), nullable=False),
    Column("exec_type", String(20), nullable=False),
    Column("last_qty", DECIMAL, nullable=False),
    Column("last_price", DECIMAL, nullable=False),
    Column("fee", DECIMAL, nullable=False),
    Column("liquidity", String(8), nullable=False),
    Column("transact_ns", BigInteger, nullable=False),
    PrimaryKeyConstraint("venue", "exec_id", name="pk_executions"),
)

Table(
    "accounts",
    WAVE1,
    Column("account_id", String(64), primary_key=True),
    Column("cash", DECIMAL, nullable=False),
    Column("active", Integer, nullable=False),
    Column("risk_limits", Text, nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
)

Table(
    "positions",
    WAVE1,
    Column("account_id", String(64), nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("quantity", DECIMAL, nullable=False),
    Column("cost", DECIMAL, nullable=False),
    PrimaryKeyConstraint("account_id", "symbol", name="pk_positions"),
)

Table(
    "halts",
    WAVE1,
    Column("scope", String(64), primary_key=True),  # an account id, or "*" for all
    Column("reason", Text, nullable=False),
    Column("halted_by", String(64), nullable=False),
    Column("halted_ns", BigInteger, nullable=False),
)


async def make_wave1_store(
    engine: AsyncEngine, rows: dict[str, list[dict[str, Any]]] = WAVE1_ROWS
) -> int:
    """The wave-1 tables with ``rows`` in them, as that OMS made them; the rows written."""
    async with engine.begin() as conn:
        await conn.run_sync(WAVE1.create_all)
        for table in WAVE1.sorted_tables:
            if rows.get(table.name):
                await conn.execute(table.insert(), rows[table.name])
    return sum(len(table_rows) for table_rows in rows.values())

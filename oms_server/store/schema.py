"""Table definitions (SQLAlchemy Core). Decimals are stored as canonical strings.

Strings keep prices and quantities exact on every backend (SQLite has no exact
numeric type); times are integer Unix nanoseconds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Dialect,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

from oms_server.domain.decimals import fmt


class DecimalString(TypeDecorator[Decimal]):
    """An exact Decimal stored as its canonical string; '' and NULL mean None."""

    impl = String(40)
    cache_ok = True

    # statements.py does the same for the stdlib sqlite3 writer; keep the two alike.
    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return fmt(Decimal(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None or value == "":
            return None
        return Decimal(value)


metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("order_id", String(40), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("client_order_id", String(64), nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("side", String(8), nullable=False),
    Column("order_type", String(16), nullable=False),
    Column("time_in_force", String(8), nullable=False),
    Column("quantity", DecimalString, nullable=False),
    Column("limit_price", DecimalString),
    Column("stop_price", DecimalString),
    Column("routing_strategy", String(16), nullable=False),
    Column("venue", String(32), nullable=False, default=""),
    Column("state", String(20), nullable=False),
    Column("cum_qty", DecimalString, nullable=False),
    Column("cum_notional", DecimalString, nullable=False),
    Column("text", Text, nullable=False, default=""),
    Column("sender", String(64), nullable=False, default=""),
    Column("replaces_order_id", String(40), nullable=False, default=""),
    Column("replaced_by_order_id", String(40), nullable=False, default=""),
    Column("created_ns", BigInteger, nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("fees", DecimalString, nullable=False, default="0"),
    Column("arrival_price", DecimalString),
    Column("single_venue_price", DecimalString),
    Column("reroutes", Integer, nullable=False, default=0),
    Column("reserve_price", DecimalString),
    #: When a GTD order expires (Unix ns); NULL for every other time in force.
    Column("expire_ns", BigInteger),
    #: A trailing stop's trailing distance; NULL for every other type.
    Column("trailing_offset", DecimalString),
    #: A trailing stop's current trigger price (rewritten as it trails); NULL otherwise.
    Column("trigger_price", DecimalString),
    #: An iceberg's visible size; NULL for an order that may show its whole quantity.
    Column("display_quantity", DecimalString),
    #: The price a pegged order follows (PRIMARY, MIDPOINT, MARKET); NULL for other types.
    Column("peg_type", String(16)),
    #: A pegged order's distance from that price; NULL for other types (and for zero).
    Column("peg_offset", DecimalString),
    #: The contingent list the order belongs to (issue 21); NULL: none.
    Column("list_id", String(64)),
    #: What the order is to its list (OCO_LEG, BRACKET_ENTRY, TAKE_PROFIT...); NULL: none.
    Column("list_role", String(16)),
    UniqueConstraint("account_id", "client_order_id", name="uq_orders_account_clordid"),
    Index("ix_orders_account_created", "account_id", "created_ns"),
    Index("ix_orders_state", "state"),
    Index("ix_orders_list_id", "list_id"),
)

order_events = Table(
    "order_events",
    metadata,
    Column("account_id", String(64), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("exec_id", String(64), nullable=False, unique=True),
    Column("order_id", String(40), nullable=False),
    Column("client_order_id", String(64), nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("side", String(8), nullable=False),
    Column("exec_type", String(20), nullable=False),
    Column("order_state", String(20), nullable=False),
    Column("last_qty", DecimalString, nullable=False),
    Column("last_price", DecimalString, nullable=False),
    Column("last_venue", String(32), nullable=False),
    Column("cum_qty", DecimalString, nullable=False),
    Column("leaves_qty", DecimalString, nullable=False),
    Column("avg_price", DecimalString, nullable=False),
    Column("text", Text, nullable=False),
    Column("transact_ns", BigInteger, nullable=False),
    PrimaryKeyConstraint("account_id", "sequence", name="pk_order_events"),
    Index("ix_order_events_order", "order_id", "sequence"),
)

child_orders = Table(
    "child_orders",
    metadata,
    Column("child_order_id", String(48), primary_key=True),
    Column("parent_order_id", String(40), nullable=False, index=True),
    Column("account_id", String(64), nullable=False),
    Column("venue", String(32), nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("side", String(8), nullable=False),
    Column("order_type", String(16), nullable=False),
    Column("time_in_force", String(8), nullable=False),
    Column("quantity", DecimalString, nullable=False),
    Column("limit_price", DecimalString),
    Column("state", String(20), nullable=False),
    Column("cum_qty", DecimalString, nullable=False),
    Column("cum_notional", DecimalString, nullable=False),
    Column("fees", DecimalString, nullable=False),
    Column("purpose", String(8), nullable=False),
    Column("venue_cum_qty", DecimalString, nullable=False),
    Column("venue_done", Integer, nullable=False),
    Column("cancel_requested", Integer, nullable=False),
    Column("resends", Integer, nullable=False),
    Column("text", Text, nullable=False, default=""),
    Column("created_ns", BigInteger, nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
    Column("sent_ns", BigInteger, nullable=False),
    Column("display_quantity", DecimalString),
    Column("peg_type", String(16)),
    Column("peg_offset", DecimalString),
    Index("ix_child_orders_done", "venue_done"),
)

executions = Table(
    "executions",
    metadata,
    Column("venue", String(32), nullable=False),
    Column("exec_id", String(64), nullable=False),
    Column("child_order_id", String(48), nullable=False, index=True),
    Column("parent_order_id", String(40), nullable=False),
    Column("exec_type", String(20), nullable=False),
    Column("last_qty", DecimalString, nullable=False),
    Column("last_price", DecimalString, nullable=False),
    Column("fee", DecimalString, nullable=False),
    Column("liquidity", String(8), nullable=False),
    Column("transact_ns", BigInteger, nullable=False),
    # For a fill: the exec_id of the parent's TRADE event it made (its id in the fills
    # list); '' for the other reports.
    Column("fill_exec_id", String(64), nullable=False, default=""),
    PrimaryKeyConstraint("venue", "exec_id", name="pk_executions"),
    Index("ix_executions_fill", "fill_exec_id"),
)

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("cash", DecimalString, nullable=False),
    Column("active", Integer, nullable=False),
    Column("risk_limits", Text, nullable=False, default="{}"),
    Column("updated_ns", BigInteger, nullable=False),
)

positions = Table(
    "positions",
    metadata,
    Column("account_id", String(64), nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("quantity", DecimalString, nullable=False),
    Column("cost", DecimalString, nullable=False),
    Column("realized_pnl", DecimalString, nullable=False, default="0"),
    PrimaryKeyConstraint("account_id", "symbol", name="pk_positions"),
)

halts = Table(
    "halts",
    metadata,
    Column("scope", String(64), primary_key=True),  # an account id, or "*" for all
    Column("reason", Text, nullable=False),
    Column("halted_by", String(64), nullable=False),
    Column("halted_ns", BigInteger, nullable=False),
)

#: The lease on this store: one row (lease_id 1). Each process that takes the lease
#: increments ``token``, and every journal commit checks it still holds that token
#: (store/lease.py), so a process that lost the lease can never commit.
store_lease = Table(
    "store_lease",
    metadata,
    Column("lease_id", Integer, primary_key=True, autoincrement=False),
    Column("token", BigInteger, nullable=False),
    Column("holder", Text, nullable=False, default=""),
    Column("acquired_ns", BigInteger, nullable=False),
    Column("committed_ns", BigInteger, nullable=False, default=0),
)

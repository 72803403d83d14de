"""The wave-1 schema (commit 0f5cb75): the journal as the first stores were made.

Stores made before migrations existed hold exactly this and are stamped here (see
``upgrade_store``). Decimals are canonical strings (schema.DecimalString is a
String(40)); times are integer Unix nanoseconds.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

#: schema.DecimalString's column type.
DECIMAL = sa.String(40)
#: The tables this revision makes, in the order it drops them.
TABLES = (
    "halts",
    "positions",
    "accounts",
    "executions",
    "child_orders",
    "order_events",
    "orders",
)


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("order_id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("client_order_id", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("order_type", sa.String(16), nullable=False),
        sa.Column("time_in_force", sa.String(8), nullable=False),
        sa.Column("quantity", DECIMAL, nullable=False),
        sa.Column("limit_price", DECIMAL),
        sa.Column("stop_price", DECIMAL),
        sa.Column("routing_strategy", sa.String(16), nullable=False),
        sa.Column("venue", sa.String(32), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("cum_qty", DECIMAL, nullable=False),
        sa.Column("cum_notional", DECIMAL, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("replaces_order_id", sa.String(40), nullable=False),
        sa.Column("replaced_by_order_id", sa.String(40), nullable=False),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("updated_ns", sa.BigInteger, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("fees", DECIMAL, nullable=False),
        sa.Column("arrival_price", DECIMAL),
        sa.Column("single_venue_price", DECIMAL),
        sa.Column("reroutes", sa.Integer, nullable=False),
        sa.Column("reserve_price", DECIMAL),
        sa.UniqueConstraint("account_id", "client_order_id", name="uq_orders_account_clordid"),
        sa.Index("ix_orders_account_created", "account_id", "created_ns"),
        sa.Index("ix_orders_state", "state"),
    )
    op.create_table(
        "order_events",
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("exec_id", sa.String(64), nullable=False, unique=True),
        sa.Column("order_id", sa.String(40), nullable=False),
        sa.Column("client_order_id", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("exec_type", sa.String(20), nullable=False),
        sa.Column("order_state", sa.String(20), nullable=False),
        sa.Column("last_qty", DECIMAL, nullable=False),
        sa.Column("last_price", DECIMAL, nullable=False),
        sa.Column("last_venue", sa.String(32), nullable=False),
        sa.Column("cum_qty", DECIMAL, nullable=False),
        sa.Column("leaves_qty", DECIMAL, nullable=False),
        sa.Column("avg_price", DECIMAL, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("transact_ns", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "sequence", name="pk_order_events"),
        sa.Index("ix_order_events_order", "order_id", "sequence"),
    )
    op.create_table(
        "child_orders",
        sa.Column("child_order_id", sa.String(48), primary_key=True),
        sa.Column("parent_order_id", sa.String(40), nullable=False, index=True),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("venue", sa.String(32), nullable=False),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("order_type", sa.String(16), nullable=False),
        sa.Column("time_in_force", sa.String(8), nullable=False),
        sa.Column("quantity", DECIMAL, nullable=False),
        sa.Column("limit_price", DECIMAL),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("cum_qty", DECIMAL, nullable=False),
        sa.Column("cum_notional", DECIMAL, nullable=False),
        sa.Column("fees", DECIMAL, nullable=False),
        sa.Column("purpose", sa.String(8), nullable=False),
        sa.Column("venue_cum_qty", DECIMAL, nullable=False),
        sa.Column("venue_done", sa.Integer, nullable=False),
        sa.Column("cancel_requested", sa.Integer, nullable=False),
        sa.Column("resends", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("updated_ns", sa.BigInteger, nullable=False),
        sa.Column("sent_ns", sa.BigInteger, nullable=False),
        sa.Index("ix_child_orders_done", "venue_done"),
    )
    op.create_table(
        "executions",
        sa.Column("venue", sa.String(32), nullable=False),
        sa.Column("exec_id", sa.String(64), nullable=False),
        sa.Column("child_order_id", sa.String(48), nullable=False, index=True),
        sa.Column("parent_order_id", sa.String(40), nullable=False),
        sa.Column("exec_type", sa.String(20), nullable=False),
        sa.Column("last_qty", DECIMAL, nullable=False),
        sa.Column("last_price", DECIMAL, nullable=False),
        sa.Column("fee", DECIMAL, nullable=False),
        sa.Column("liquidity", sa.String(8), nullable=False),
        sa.Column("transact_ns", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("venue", "exec_id", name="pk_executions"),
    )
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("cash", DECIMAL, nullable=False),
        sa.Column("active", sa.Integer, nullable=False),
        sa.Column("risk_limits", sa.Text, nullable=False),
        sa.Column("updated_ns", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "positions",
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("quantity", DECIMAL, nullable=False),
        sa.Column("cost", DECIMAL, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "symbol", name="pk_positions"),
    )
    op.create_table(
        "halts",
        sa.Column("scope", sa.String(64), primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("halted_by", sa.String(64), nullable=False),
        sa.Column("halted_ns", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)

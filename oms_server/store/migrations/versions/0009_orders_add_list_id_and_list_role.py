"""orders.list_id and orders.list_role: the contingent list (OCO, OTO, BRACKET) an order
belongs to and what it is to it (issue 21), indexed by list.

NULL for an order of no list; no order stored before it belongs to one (there were no
lists), so NULL is right for all of them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from oms_server.store.migrations.existing import has_column, has_index

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if not has_column("orders", "list_id"):
        with op.batch_alter_table("orders") as batch:
            batch.add_column(sa.Column("list_id", sa.String(64)))
            batch.add_column(sa.Column("list_role", sa.String(16)))
    if not has_index("orders", "ix_orders_list_id"):
        op.create_index("ix_orders_list_id", "orders", ["list_id"])


def downgrade() -> None:
    op.drop_index("ix_orders_list_id", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("list_role")
        batch.drop_column("list_id")

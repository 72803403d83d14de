"""orders.expire_ns: when a GTD order expires, in Unix ns (43c1393).

NULL for every other time in force; no order stored before it is GTD (there was no GTD),
so NULL is right for all of them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from oms_server.store.migrations.existing import has_column

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if has_column("orders", "expire_ns"):
        return
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("expire_ns", sa.BigInteger))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("expire_ns")

"""child_orders.peg_type and peg_offset: the terms of a native peg child, one a venue
prices and re-prices itself (issue 21), so a resend after a restart asks for the same.

NULL for a child that is no native peg; no child stored before it is one (venues had no
capabilities), so NULL is right for all of them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from oms_server.store.migrations.existing import has_column

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if has_column("child_orders", "peg_type"):
        return
    with op.batch_alter_table("child_orders") as batch:
        batch.add_column(sa.Column("peg_type", sa.String(16)))
        batch.add_column(sa.Column("peg_offset", sa.String(40)))


def downgrade() -> None:
    with op.batch_alter_table("child_orders") as batch:
        batch.drop_column("peg_offset")
        batch.drop_column("peg_type")

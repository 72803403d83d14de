"""positions.realized_pnl: P&L realized by closing trades, net of fees (d9f7a21).

A position stored before it starts at 0: what earlier trades realized was never
recorded, and recomputing it would replay every fill through the domain's P&L rules,
which a revision must not import (they change; a revision never does).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from oms_server.store.migrations.existing import has_column

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if has_column("positions", "realized_pnl"):
        return
    with op.batch_alter_table("positions") as batch:
        batch.add_column(
            sa.Column("realized_pnl", sa.String(40), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("positions") as batch:
        batch.drop_column("realized_pnl")

"""orders.display_quantity: an iceberg's visible size (issue 21).

NULL for an order that may show its whole quantity; no order stored before it is an
iceberg (there was none), so NULL is right for all of them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from oms_server.store.migrations.existing import has_column

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if has_column("orders", "display_quantity"):
        return
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("display_quantity", sa.String(40)))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("display_quantity")

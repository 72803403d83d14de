"""child_orders.display_quantity: the shown size of a native iceberg child, one a venue
keeps itself (issue 21), so a resend after a restart asks for the same display.

NULL for a child that shows its whole quantity; no child stored before it is a native
iceberg (venues had no capabilities), so NULL is right for all of them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from oms_server.store.migrations.existing import has_column

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if has_column("child_orders", "display_quantity"):
        return
    with op.batch_alter_table("child_orders") as batch:
        batch.add_column(sa.Column("display_quantity", sa.String(40)))


def downgrade() -> None:
    with op.batch_alter_table("child_orders") as batch:
        batch.drop_column("display_quantity")

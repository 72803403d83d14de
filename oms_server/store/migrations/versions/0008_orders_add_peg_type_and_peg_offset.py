"""orders.peg_type and orders.peg_offset: what a pegged order follows, and how far
from it it rests (issue 21).

NULL for every order that is not PEGGED; no order stored before it is pegged (there was
no such type), so NULL is right for all of them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from oms_server.store.migrations.existing import has_column

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if has_column("orders", "peg_type"):
        return
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("peg_type", sa.String(16)))
        batch.add_column(sa.Column("peg_offset", sa.String(40)))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("peg_offset")
        batch.drop_column("peg_type")

"""store_lease: one owner per store, and the fencing token every commit checks (087a72c).

Taking the lease (store/lease.py) makes this table if it is missing, and it runs before
the migrations (lease -> migrate -> open), so the table is often there already: it is
made here only if missing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from oms_server.store.migrations.existing import has_table

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if has_table("store_lease"):
        return
    op.create_table(
        "store_lease",
        sa.Column("lease_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("acquired_ns", sa.BigInteger, nullable=False),
        sa.Column("committed_ns", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("store_lease")

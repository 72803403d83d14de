"""orders.trailing_offset and orders.trigger_price: a trailing stop's distance and its
current trigger price (issue 21).

NULL for every other order type; no order stored before it is a trailing stop (there
was none), so NULL is right for all of them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from oms_server.store.migrations.existing import has_column

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_COLUMNS = ("trailing_offset", "trigger_price")


def upgrade() -> None:
    missing = [name for name in _COLUMNS if not has_column("orders", name)]
    if not missing:
        return
    with op.batch_alter_table("orders") as batch:
        for name in missing:
            batch.add_column(sa.Column(name, sa.String(40)))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)

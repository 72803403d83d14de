"""executions.fill_exec_id: each venue fill names the parent's TRADE event it made (5f9b197).

The fills list (ListExecutions) joins a venue's report with that event. Fills stored
before this column are paired with their TRADE events here, so the fills list shows them
too: within one parent order, venue, quantity and price, the n-th fill by venue time
goes with the n-th TRADE event by sequence (the only ambiguity is between fills alike
in all four). Other reports keep ''.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from oms_server.store.migrations.existing import has_column, has_index

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

#: Pairs each unpaired venue fill with the parent's TRADE event it made (see above).
BACKFILL = sa.text(
    """
    UPDATE executions SET fill_exec_id = pairs.trade_exec_id
    FROM (
        SELECT f.venue, f.exec_id, t.exec_id AS trade_exec_id
        FROM (
            SELECT venue, exec_id, parent_order_id, last_qty, last_price,
                   ROW_NUMBER() OVER (
                       PARTITION BY parent_order_id, venue, last_qty, last_price
                       ORDER BY transact_ns, exec_id
                   ) AS n
            FROM executions WHERE exec_type = 'TRADE'
        ) AS f
        JOIN (
            SELECT exec_id, order_id, last_venue, last_qty, last_price,
                   ROW_NUMBER() OVER (
                       PARTITION BY order_id, last_venue, last_qty, last_price
                       ORDER BY sequence
                   ) AS n
            FROM order_events WHERE exec_type = 'TRADE'
        ) AS t
          ON t.order_id = f.parent_order_id AND t.last_venue = f.venue
         AND t.last_qty = f.last_qty AND t.last_price = f.last_price AND t.n = f.n
    ) AS pairs
    WHERE executions.venue = pairs.venue AND executions.exec_id = pairs.exec_id
      AND executions.fill_exec_id = ''
    """
)


def upgrade() -> None:
    add_column = not has_column("executions", "fill_exec_id")
    add_index = not has_index("executions", "ix_executions_fill")
    with op.batch_alter_table("executions") as batch:
        if add_column:
            batch.add_column(
                sa.Column("fill_exec_id", sa.String(64), nullable=False, server_default="")
            )
        if add_index:
            batch.create_index("ix_executions_fill", ["fill_exec_id"])
    op.execute(BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.drop_index("ix_executions_fill")
        batch.drop_column("fill_exec_id")

"""What a store already has, for the revisions of changes that reached stores before
migrations existed.

Until revision 0001, stores were made by ``metadata.create_all``: one made after wave 1
by a development build may already hold a table or column that a revision from 0002 to
0005 adds. Those revisions add only what is missing; revisions after them need not ask.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import inspect


def has_table(table: str) -> bool:
    return inspect(op.get_bind()).has_table(table)


def has_column(table: str, column: str) -> bool:
    return any(c["name"] == column for c in inspect(op.get_bind()).get_columns(table))


def has_index(table: str, index: str) -> bool:
    return any(i["name"] == index for i in inspect(op.get_bind()).get_indexes(table))

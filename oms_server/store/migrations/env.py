"""Alembic's environment: run the revisions on the connection the OMS hands over.

``upgrade_store`` (and scripts/new_migration.py) put a SQLAlchemy connection, already in
its transaction, in ``config.attributes``; nothing here opens a database or commits.
SQLite alters tables in batch mode (copy and rename where ALTER cannot).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy import String
from sqlalchemy.engine import Connection

from oms_server.store.migrations import CONNECTION_ATTRIBUTE
from oms_server.store.schema import DecimalString, metadata

log = logging.getLogger("oms_server.store.migrations")


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
        on_version_apply=_log_step,
    )
    with context.begin_transaction():
        context.run_migrations()


def _render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """A new revision writes a decimal column as the String it is stored as: revisions
    import no live code, which changes while a revision must not."""
    if kind == "type" and isinstance(item, DecimalString):
        stored = item.impl_instance
        assert isinstance(stored, String)
        return f"sa.String({stored.length})"
    return False


def _log_step(
    ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]
) -> None:
    source = ", ".join(step.source_revision_ids) or "empty"
    destination = ", ".join(step.destination_revision_ids) or "empty"
    log.info("store schema: %s %s -> %s", "stamp" if step.is_stamp else "step", source, destination)


def _connection() -> Connection:
    connection = context.config.attributes.get(CONNECTION_ATTRIBUTE)
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "the OMS runs its migrations on the store's connection "
            "(oms_server.store.migrations.upgrade_store); offline SQL is not supported"
        )
    return connection


run_migrations(_connection())

"""Where each shard keeps its store, derived from the one OMS_DB_URL.

- a SQLite file ``<dir>/<name>`` becomes ``<dir>/shard-<id>/<name>`` (the default store
  ``.oms/oms.db`` gives ``.oms/shard-1/oms.db``, ``.oms/shard-2/oms.db``...);
- a PostgreSQL database ``<db>`` becomes the database ``<db>_shard_<id>`` on the same
  server (made by the operator beforehand, like the database itself).

In-memory SQLite cannot be shared by a shard's owner and its standby: refused.
"""

from __future__ import annotations

from pathlib import Path

from oms_server.store.database import parse_url, sqlite_file_path


class ShardLayoutError(ValueError):
    """The store URL cannot be split into shards."""

    def __str__(self) -> str:
        return f"shards: {self.args[0]}"


def shard_db_url(db_url: str, shard_id: int) -> str:
    """The store URL of shard ``shard_id`` of the OMS whose store URL is ``db_url``."""
    url = parse_url(db_url)
    if url.get_backend_name() == "postgresql":
        return url.set(database=f"{url.database}_shard_{shard_id}").render_as_string(
            hide_password=False
        )
    path = sqlite_file_path(db_url)
    if path is None:
        raise ShardLayoutError(
            f"a sharded OMS needs a SQLite file or PostgreSQL, not {db_url!r}: a shard's "
            "standby must open the store its owner wrote"
        )
    shard_path = Path(path).parent / f"shard-{shard_id}" / Path(path).name
    return url.set(database=str(shard_path)).render_as_string(hide_password=False)

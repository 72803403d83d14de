"""scripts/new_migration.py writes the next revision (into a copy of the migrations here)."""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from oms_server.store.migrations import MIGRATIONS_DIR, head_revision

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "new_migration.py"

pytestmark = pytest.mark.timeout(60)


def test_with_schema_py_unchanged_the_next_revision_has_nothing_to_do(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    script = load_script()

    path = asyncio.run(
        script.new_revision("orders: nothing", autogenerate=True, migrations=migrations)
    )
    script.format_revision(path)

    following = f"{int(head_revision()) + 1:04d}"
    assert path.name == f"{following}_orders_nothing.py"
    text = path.read_text()
    assert f'revision: str = "{following}"' in text
    assert f'down_revision: str | None = "{head_revision()}"' in text
    assert "op." not in text.replace("from alembic import op", "")
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--quiet", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert formatted.returncode == 0, formatted.stdout


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("new_migration", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

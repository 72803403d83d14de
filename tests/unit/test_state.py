"""The state directory: found one way by every command; only a server makes the secret."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from clients.fix.config import FixConfig
from oms_server.config import Settings
from oms_server.state import NoAuthSecretError, ensure_auth_secret, read_auth_secret, state_dir


def test_the_state_dir_is_oms_state_dir_else_dot_oms() -> None:
    assert state_dir({}) == Path(".oms")
    assert state_dir({"OMS_STATE_DIR": ""}) == Path(".oms")
    assert state_dir({"OMS_STATE_DIR": "/srv/oms"}) == Path("/srv/oms")


def test_the_server_fix_gateway_and_store_all_follow_oms_state_dir() -> None:
    env = {"OMS_STATE_DIR": "/srv/oms"}
    settings = Settings.from_env(env)
    assert settings.state_dir == Path("/srv/oms")
    assert settings.db_url == "sqlite+aiosqlite:////srv/oms/oms.db"
    fix = FixConfig.from_env(env)
    assert fix is not None and fix.state_dir == Path("/srv/oms/fix")
    assert Settings.from_env(env | {"OMS_DB_URL": "sqlite+aiosqlite:///x.db"}).db_url.endswith(
        "x.db"
    )


def test_reading_without_a_secret_refuses_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(NoAuthSecretError, match="OMS_STATE_DIR") as refused:
        read_auth_secret(tmp_path / "state")
    assert str(tmp_path / "state" / "auth_secret") in refused.value.message
    assert not (tmp_path / "state").exists()


def test_the_server_makes_the_secret_once_private_and_readers_see_it(tmp_path: Path) -> None:
    made = ensure_auth_secret(tmp_path / "state")
    assert len(made) >= 40
    path = tmp_path / "state" / "auth_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_auth_secret(tmp_path / "state") == made
    assert read_auth_secret(tmp_path / "state") == made
    assert sorted(p.name for p in path.parent.iterdir()) == ["auth_secret"]


def test_oms_auth_secret_wins_and_writes_nothing(tmp_path: Path) -> None:
    assert ensure_auth_secret(tmp_path / "state", "given") == "given"
    assert read_auth_secret(tmp_path / "state", "given") == "given"
    assert not (tmp_path / "state").exists()

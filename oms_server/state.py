"""The state directory: where the OMS keeps its signing secret, its SQLite store and the
FIX gateway's files, found the same way by every command (``oms up``, ``oms token``,
``omsctl``, ``oms fix``).

``OMS_STATE_DIR`` names it; unset, it is ``.oms`` in the working directory. Only a server
creates the signing secret; every other reader refuses to run without one (a secret no
server uses signs tokens no server accepts).

Standard library only: omsctl and the FIX gateway import this module too.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Final

STATE_DIR_ENV: Final = "OMS_STATE_DIR"
AUTH_SECRET_ENV: Final = "OMS_AUTH_SECRET"
DEFAULT_STATE_DIR: Final = ".oms"
AUTH_SECRET_FILE: Final = "auth_secret"
DB_FILE: Final = "oms.db"
#: What a server's banner says instead of printing a token (a token in a log outlives it).
TOKEN_HINT: Final = "oms token --role admin (run here, or with the same OMS_STATE_DIR)"
#: Random bytes in a new signing secret (HS256 wants at least 32).
SECRET_BYTES: Final = 32


class NoAuthSecretError(Exception):
    """No OMS_AUTH_SECRET and no secret file: no server has run with this state directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.message = (
            f"no signing secret: {path} does not exist and {AUTH_SECRET_ENV} is unset. "
            f"Start the server first (`oms up` creates it), run from the directory it runs "
            f"in, or set {STATE_DIR_ENV} to its state directory"
        )
        super().__init__(self.message)


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$OMS_STATE_DIR``, else ``.oms`` (relative to the working directory)."""
    env = os.environ if env is None else env
    return Path(env.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


def default_db_url(directory: Path) -> str:
    """The SQLite store kept in the state directory."""
    return f"sqlite+aiosqlite:///{directory / DB_FILE}"


def secret_path(directory: Path) -> Path:
    return directory / AUTH_SECRET_FILE


def read_auth_secret(directory: Path, given: str | None = None) -> str:
    """``given`` (OMS_AUTH_SECRET), else the server's secret file; NoAuthSecretError if
    neither exists. Never creates one."""
    if given:
        return given
    path = secret_path(directory)
    try:
        secret = path.read_text().strip()
    except FileNotFoundError:
        raise NoAuthSecretError(path.absolute()) from None
    if not secret:
        raise NoAuthSecretError(path.absolute())
    return secret


def ensure_auth_secret(directory: Path, given: str | None = None) -> str:
    """For a server: ``given``, else the secret file, created (mode 0600) on first start."""
    try:
        return read_auth_secret(directory, given)
    except NoAuthSecretError:
        pass
    directory.mkdir(parents=True, exist_ok=True)
    path = secret_path(directory)
    draft = path.with_name(f".{AUTH_SECRET_FILE}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(SECRET_BYTES) + "\n")
    try:
        os.link(draft, path)  # complete or absent: two servers starting at once agree
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return read_auth_secret(directory)

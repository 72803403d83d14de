"""Shared fixtures: databases (SQLite file, PostgreSQL), a running OMS, tokens."""

from __future__ import annotations

import os

# The OMS processes tests start serve no operator page and no FIX gateway on the default
# ports (where a developer's `make run` may be): a test that wants one asks for a free port.
os.environ.setdefault("OMS_WEB_ADDR", "off")
os.environ.setdefault("OMS_FIX_ADDR", "off")

pytest_plugins = ["tests.support.fixtures", "tests.conftest_nats", "tests.support.market"]

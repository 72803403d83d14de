"""Shared fixtures: databases (SQLite file, PostgreSQL), a running OMS, tokens."""

from __future__ import annotations

import os

# The OMS processes tests start serve no operator page on the default port (where a
# developer's `make run` may be): a test that wants the page asks for a free port.
os.environ.setdefault("OMS_WEB_ADDR", "off")

pytest_plugins = ["tests.support.fixtures", "tests.conftest_nats", "tests.support.market"]

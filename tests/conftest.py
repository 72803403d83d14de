"""Shared fixtures: databases (SQLite file, PostgreSQL), a running OMS, tokens."""

from __future__ import annotations

pytest_plugins = ["tests.support.fixtures", "tests.conftest_nats", "tests.support.market"]

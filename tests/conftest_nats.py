"""Pytest plugin: a real embedded ``nats-server`` per test.

Register from ``tests/conftest.py`` with ``pytest_plugins = ["tests.conftest_nats"]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from venues.nats_runtime import EmbeddedNats


@pytest_asyncio.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[EmbeddedNats]:
    """A started EmbeddedNats (JetStream on) with its store in the test's tmp dir."""
    server = EmbeddedNats(store_dir=tmp_path / "nats")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def nats_url(nats_server: EmbeddedNats) -> str:
    """Client URL of the test's ``nats_server``."""
    return nats_server.url

"""Fixtures of the FIX gateway's tests: a gateway in front of a routed OMS, jspurefix clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from clients.fix.config import FixConfig
from clients.fix.gateway import FixGateway
from oms_server.domain.access import Role
from tests.support.fix_client import JsFixClient, ensure_installed
from tests.support.fixtures import RunningOms, token
from tests.support.market import RoutedOms

#: Short, so tests of slow or silent connections run fast.
TEST_LOGON_TIMEOUT_S = 2.0


@dataclass
class RunningGateway:
    """A FIX gateway for an OMS on loopback, on a port of its own that restarts keep."""

    oms: RunningOms
    state_dir: Path
    gateway: FixGateway | None = None
    port: int = 0
    max_pending_logons: int = 64

    async def start(self) -> None:
        config = FixConfig(
            port=self.port,
            target=self.oms.target,
            state_dir=self.state_dir,
            logon_timeout_s=TEST_LOGON_TIMEOUT_S,
            max_pending_logons=self.max_pending_logons,
        )
        self.gateway = FixGateway(config)
        await self.gateway.start()
        self.port = self.gateway.port

    async def stop(self) -> None:
        if self.gateway is not None:
            await self.gateway.stop()
            self.gateway = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()


ClientFactory = Callable[..., Awaitable[JsFixClient]]


@dataclass
class Clients:
    """Starts jspurefix sessions against the gateway, and ends them after the test."""

    gateway: RunningGateway
    root: Path
    started: list[JsFixClient] = field(default_factory=list)

    async def connect(
        self,
        sender: str,
        password: str | None = None,
        *,
        heartbeat_s: int = 30,
        logged_on: bool = True,
    ) -> JsFixClient:
        client = JsFixClient(
            port=self.gateway.port,
            sender=sender,
            password=token() if password is None else password,
            store_dir=self.root / sender,
            heartbeat_s=heartbeat_s,
        )
        self.started.append(client)
        await client.start()
        return await client.logged_on() if logged_on else client

    async def close(self) -> None:
        for client in self.started:
            await client.close()


@pytest.fixture(scope="session")
def jspurefix_installed() -> None:
    ensure_installed()


@pytest.fixture
async def gateway(routed_oms: RoutedOms, tmp_path: Path) -> AsyncIterator[RunningGateway]:
    running = RunningGateway(routed_oms, tmp_path / "fix")
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def clients(
    gateway: RunningGateway, tmp_path: Path, jspurefix_installed: None
) -> AsyncIterator[Clients]:
    started = Clients(gateway, tmp_path / "clients")
    try:
        yield started
    finally:
        await started.close()


def admin_token(accounts: tuple[str, ...] = ()) -> str:
    return token(Role.ADMIN, accounts)

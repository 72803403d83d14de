"""Fixtures: a real database (SQLite file or PostgreSQL), a real OMS over loopback gRPC."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import grpc
import pytest

from oms_server.api.auth import issue_token
from oms_server.app import OmsApp
from oms_server.config import Settings
from oms_server.domain.access import Role
from oms_server.domain.instruments import Instrument
from oms_server.engine.hub import ReportHub
from oms_server.store.database import create_engine, drop_schema
from protos.oms.v1 import order_service_pb2_grpc

PG_URL = os.environ.get("OMS_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
#: Set (CI does) to make PostgreSQL tests fail instead of skip when it is unreachable.
REQUIRE_POSTGRES = os.environ.get("OMS_REQUIRE_POSTGRES") == "1"
TEST_SECRET = "test-secret-for-loopback-only-0123456789"
#: Accounts every test OMS has, funded with STARTING_CASH.
TEST_ACCOUNTS = ("ACC1", "ACC2")
STARTING_CASH = Decimal("100000000")

INSTRUMENTS = {
    "AAPL": Instrument("AAPL", Decimal("0.01"), Decimal("1"), Decimal("190.00")),
    "MSFT": Instrument("MSFT", Decimal("0.01"), Decimal("1"), Decimal("420.00")),
    "BTC": Instrument("BTC", Decimal("0.5"), Decimal("0.001"), Decimal("60000")),
}


async def _postgres_url() -> str:
    engine = create_engine(PG_URL)
    try:
        await drop_schema(engine)
    except (OSError, Exception) as exc:  # asyncpg raises many kinds on connect
        message = f"PostgreSQL not reachable at {PG_URL}: {exc.__class__.__name__}: {exc}"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    finally:
        await engine.dispose()
    return PG_URL


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database: a SQLite file, or the PostgreSQL test database emptied."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'oms.db'}"
    return await _postgres_url()


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'oms.db'}"


def token(role: Role = Role.TRADER, accounts: tuple[str, ...] = ("ACC1",)) -> str:
    return issue_token(TEST_SECRET, f"test-{role.value}", role, accounts)


def call_metadata(role: Role = Role.TRADER, accounts: tuple[str, ...] = ("ACC1",)) -> tuple:
    return (("authorization", f"Bearer {token(role, accounts)}"),)


async def open_test_accounts(app: OmsApp, account_ids: Sequence[str] = TEST_ACCOUNTS) -> None:
    """Create and fund the test accounts once (they survive restarts in the store)."""
    assert app.engine is not None
    for account_id in account_ids:
        if app.engine.find_account(account_id) is None:
            await app.engine.create_account(account_id)
            await app.engine.deposit(account_id, STARTING_CASH)


@dataclass
class RunningOms:
    """An OMS on loopback, with a channel and the means to restart it."""

    db_url: str
    state_dir: Path
    app: OmsApp | None = None
    channel: grpc.aio.Channel | None = None
    hub_factory: Callable[[], ReportHub] = ReportHub
    #: 0 until first started; restarts come back on the same port, so targets stay valid.
    port: int = 0
    extra: dict[str, object] = field(default_factory=dict)
    #: The operator page's address ("127.0.0.1:0": a free port); None: not served.
    web_addr: str | None = None

    @property
    def orders(self) -> order_service_pb2_grpc.OrderServiceStub:
        assert self.channel is not None
        return order_service_pb2_grpc.OrderServiceStub(self.channel)

    @property
    def target(self) -> str:
        """host:port of the server; it stays the same across restarts."""
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        settings = Settings(
            grpc_addr=self.target,  # port 0 the first time, then the port it got
            db_url=self.db_url,
            auth_secret=TEST_SECRET,
            state_dir=self.state_dir,
            web_addr=self.web_addr,
        )
        self.app = self.make_app(settings)
        await self.app.start()
        self.port = self.app.port
        if self.app.web is not None:  # restarts come back on the same port too
            self.web_addr = f"{self.app.web.host}:{self.app.web.port}"
        await open_test_accounts(self.app)
        await self.ready()
        self.channel = grpc.aio.insecure_channel(self.app.address)

    @property
    def web_url(self) -> str:
        """The operator page's URL (the OMS must have been started with a web_addr)."""
        assert self.web_addr is not None, "started without web_addr"
        return f"http://{self.web_addr}/"

    def make_app(self, settings: Settings) -> OmsApp:
        return OmsApp(settings, INSTRUMENTS, TEST_SECRET, hub=self.hub_factory())

    async def ready(self) -> None:
        """Wait for whatever the test needs before it may call (nothing here)."""

    async def stop(self) -> None:
        if self.channel is not None:
            await self.channel.close()
            self.channel = None
        if self.app is not None:
            await self.app.stop(grace_s=1.0)
            self.app = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()


@pytest.fixture
async def oms(db_url: str, tmp_path: Path) -> AsyncIterator[RunningOms]:
    running = RunningOms(db_url, tmp_path / "state")
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def oms_sqlite(sqlite_url: str, tmp_path: Path) -> AsyncIterator[RunningOms]:
    running = RunningOms(sqlite_url, tmp_path / "state")
    await running.start()
    try:
        yield running
    finally:
        await running.stop()

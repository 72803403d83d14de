"""Scripted markets for end-to-end tests: a scenario, its simulators, and an OMS routing to them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from nats.aio.client import Client as NatsClient

from oms_server.app import OmsApp
from oms_server.config import Settings
from protos.venue.v1 import venue_pb2 as v
from tests.support.fixtures import TEST_SECRET, RunningOms
from tests.support.waiting import eventually
from venues import subjects
from venues.nats_runtime import EmbeddedNats
from venues.scenario import Scenario, parse_scenario
from venues.sim.host import VenueHost
from venues.sim.service import VenueSimulator

#: Three venues, static books: ALPHA cheapest before fees, CHARLIE deepest.
THREE_VENUES = """
seed = 7
liquidity = "static"

[market]
md_throttle_ms = 5

[[instruments]]
symbol = "AAPL"
tick_size = "0.01"
lot_size = "1"
reference_price = "190.00"

[[instruments]]
symbol = "MSFT"
tick_size = "0.01"
lot_size = "1"
reference_price = "420.00"

[[instruments]]
symbol = "NOBOOK"
tick_size = "0.01"
lot_size = "1"
reference_price = "10.00"

[[venues]]
name = "ALPHA"
taker_fee_bps = "3"
maker_rebate_bps = "2"
[[venues.books]]
symbol = "AAPL"
bids = [["189.99", "500"], ["189.98", "1000"]]
asks = [["190.01", "300"], ["190.02", "800"]]
[[venues.books]]
symbol = "MSFT"
bids = [["419.90", "500"]]
asks = [["420.10", "500"]]

[[venues]]
name = "BRAVO"
taker_fee_bps = "1"
maker_rebate_bps = "1"
[[venues.books]]
symbol = "AAPL"
bids = [["189.98", "400"], ["189.97", "600"]]
asks = [["190.02", "400"], ["190.03", "600"]]
[[venues.books]]
symbol = "MSFT"
bids = [["419.90", "500"]]
asks = [["420.10", "500"]]

[[venues]]
name = "CHARLIE"
taker_fee_bps = "0.5"
maker_rebate_bps = "0.5"
[[venues.books]]
symbol = "AAPL"
bids = [["189.97", "900"], ["189.96", "900"]]
asks = [["190.03", "900"], ["190.04", "900"]]
[[venues.books]]
symbol = "MSFT"
bids = [["419.90", "500"]]
asks = [["420.10", "500"]]
"""

#: THREE_VENUES with a market maker moving the books every 20 ms.
MOVING_MARKET = THREE_VENUES.replace('liquidity = "static"', 'liquidity = "random_walk"').replace(
    "md_throttle_ms = 5", "md_throttle_ms = 5\nmm_step_ms = 20"
)


@dataclass
class Market:
    """Running venue simulators on a real nats-server."""

    nats: EmbeddedNats
    scenario: Scenario
    host: VenueHost | None = None

    @property
    def simulators(self) -> dict[str, VenueSimulator]:
        assert self.host is not None
        return self.host.simulators

    @property
    def client(self) -> NatsClient | None:
        return self.host.client if self.host is not None else None

    async def start(self) -> None:
        self.host = VenueHost(self.nats.url, self.scenario)
        await self.host.start()

    async def stop(self) -> None:
        if self.host is not None:
            await self.host.stop()

    async def set_faults(
        self, venue: str, *, reject: float = 0.0, drop: float = 0.0, duplicate: float = 0.0
    ) -> None:
        faults = v.FaultSettings(reject_rate=reject, drop_rate=drop, duplicate_exec_rate=duplicate)
        await self.control(venue, v.SimulatorControl(faults=faults))

    async def exec_consumer_drained(self) -> bool:
        """True when the OMS consumer has taken and acked every report venues published."""
        assert self.client is not None
        js = self.client.jetstream()
        pending = sum(not s._outbound.empty() for s in self.simulators.values())
        info = await js.consumer_info(subjects.EXEC_STREAM, subjects.OMS_EXEC_CONSUMER)
        return pending == 0 and info.num_pending == 0 and info.num_ack_pending == 0

    def orders_received(self) -> int:
        return sum(s.orders_received for s in self.simulators.values())

    def fills_made(self) -> int:
        return sum(s.fills_made for s in self.simulators.values())

    async def control(self, venue: str, control: v.SimulatorControl) -> None:
        """Send a control message over NATS, as a tester would."""
        assert self.client is not None
        await self.client.request(subjects.control(venue), control.SerializeToString(), timeout=5)


@dataclass
class RoutedOms(RunningOms):
    """An OMS connected to the market over NATS."""

    market: Market | None = None
    #: Short, so reconciliation tests run fast.
    ack_timeout_s: float = 0.3

    def make_app(self, settings: Settings) -> OmsApp:
        assert self.market is not None
        return OmsApp(
            settings,
            {i.symbol: i for i in self.market.scenario.instruments},
            TEST_SECRET,
            hub=self.hub_factory(),
            venue_configs=self.market.scenario.venues,
            nats_url=self.market.nats.url,
            venue_ack_timeout_s=self.ack_timeout_s,
            session=self.market.scenario.session,
        )

    async def ready(self) -> None:
        await eventually(self._books_seen, message="the OMS has every venue's books")

    def _books_seen(self) -> bool:
        assert self.app is not None and self.app.connector is not None and self.market
        books = self.app.connector.books("AAPL")
        return len(books) == len(self.market.scenario.venues)


#: A RoutedOms or one of its kinds (an OMS test's own settings).
R = TypeVar("R", bound=RoutedOms)


async def started_market(nats: EmbeddedNats, scenario_text: str) -> Market:
    market = Market(nats, parse_scenario(scenario_text, "test"))
    await market.start()
    return market


@contextlib.asynccontextmanager
async def market_running(nats: EmbeddedNats, scenario_text: str) -> AsyncIterator[Market]:
    """The venue simulators of ``scenario_text`` on ``nats`` for the block, stopped after."""
    market = await started_market(nats, scenario_text)
    try:
        yield market
    finally:
        await market.stop()


@contextlib.asynccontextmanager
async def oms_running(oms: R) -> AsyncIterator[R]:
    """``oms`` (a RoutedOms, or one of its kinds) started for the block, stopped after."""
    await oms.start()
    try:
        yield oms
    finally:
        await oms.stop()


@pytest.fixture
async def market(nats_server: EmbeddedNats) -> AsyncIterator[Market]:
    async with market_running(nats_server, THREE_VENUES) as running:
        yield running


@pytest.fixture
async def routed_oms(market: Market, sqlite_url: str, tmp_path: Path) -> AsyncIterator[RoutedOms]:
    async with oms_running(RoutedOms(sqlite_url, tmp_path / "state", market=market)) as running:
        yield running

"""The whole stack in one process: NATS (embedded unless NATS_URL), the venues, the OMS."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from oms_server.app import EngineStoppedError, OmsApp, resolve_auth_secret
from oms_server.config import Settings
from venues.nats_runtime import EmbeddedNats, resolve_nats
from venues.scenario import Scenario, load_scenario
from venues.sim.host import VenueHost

if TYPE_CHECKING:
    from clients.fix.gateway import FixGateway

log = logging.getLogger(__name__)

#: The account `oms up` opens on a new store, for trying the system out.
DEMO_ACCOUNT = "DEMO"
DEMO_CASH = Decimal("10000000")


@dataclass
class Stack:
    """What `oms up` runs: start() brings everything up, stop() takes it down in order."""

    settings: Settings
    scenario: Scenario | None = None
    nats_url: str = ""
    app: OmsApp | None = None
    venues: VenueHost | None = None
    fix: FixGateway | None = None
    _nats: EmbeddedNats | None = None

    async def start(self) -> None:
        self.scenario = load_scenario(self.settings.scenario_path)
        instruments = {i.symbol: i for i in self.scenario.instruments}
        self.app = OmsApp(
            self.settings,
            instruments,
            resolve_auth_secret(self.settings),
            venue_configs=self.scenario.venues,
            session=self.scenario.session,
        )
        # The port and the store first: a second stack stops here, before NATS or venues.
        await self.app.claim()
        self.nats_url, self._nats = await resolve_nats(self.settings.nats_url)
        self.app.nats_url = self.nats_url
        self.venues = VenueHost(self.nats_url, self.scenario)
        await self.venues.start()
        await self.app.start()
        await self._open_demo_account()
        await self._start_fix_gateway()

    async def wait_failed(self) -> EngineStoppedError:
        """Wait until the OMS's engine stops under the stack; returns why."""
        assert self.app is not None
        return await self.app.wait_failed()

    async def _open_demo_account(self) -> None:
        """A funded account to try things with, made once (it lives in the store)."""
        assert self.app is not None and self.app.engine is not None
        if self.app.engine.find_account(DEMO_ACCOUNT) is None:
            await self.app.engine.create_account(DEMO_ACCOUNT)
            await self.app.engine.deposit(DEMO_ACCOUNT, DEMO_CASH)
            log.info(
                "opened account %s with %s cash",
                DEMO_ACCOUNT,
                DEMO_CASH,
                extra={"account_id": DEMO_ACCOUNT},
            )

    async def _start_fix_gateway(self) -> None:
        assert self.app is not None
        self.fix = await start_fix_gateway(self.settings, self.app.address)

    async def stop(self) -> None:
        if self.fix is not None:
            await self.fix.stop()
        if self.app is not None:
            await self.app.stop()
        if self.venues is not None:
            await self.venues.stop()
        if self._nats is not None:
            await self._nats.stop()

    def endpoints(self) -> dict[str, str]:
        assert self.app is not None and self.scenario is not None
        return {
            "grpc": self.app.address,
            "nats": self.nats_url + ("" if self._nats is None else " (embedded)"),
            "database": self.settings.db_url,
            "venues": ", ".join(v.name for v in self.scenario.venues),
            "fix": fix_endpoint(self.fix),
            "page": f"{self.app.web.url} (operator page: sign in with a token)"
            if self.app.web
            else "off",
            "account": f"{DEMO_ACCOUNT} (try: oms token --role trader --account {DEMO_ACCOUNT})",
        }


async def start_fix_gateway(settings: Settings, target: str) -> FixGateway | None:
    """The FIX 4.4 gateway on OMS_FIX_ADDR (None when off), an ordinary client of the
    gRPC API at ``target``, its message store and cursors in the state directory."""
    from clients.fix.config import FIX_STATE_DIR, FixConfig
    from clients.fix.gateway import FixGateway

    config = FixConfig.from_env(target=target)
    if config is None:
        return None
    gateway = FixGateway(replace(config, state_dir=settings.state_dir / FIX_STATE_DIR))
    await gateway.start()
    return gateway


def fix_endpoint(gateway: FixGateway | None) -> str:
    """The banner's line for the FIX gateway."""
    return f"{gateway.address} (FIX 4.4, TargetCompID OMS)" if gateway else "off"

"""The whole stack in one process: NATS (embedded unless NATS_URL), the OMS, the venues."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from oms_server.api.auth import issue_token
from oms_server.app import OmsApp, resolve_auth_secret
from oms_server.config import Settings
from oms_server.domain.access import Role
from venues.nats_runtime import EmbeddedNats, resolve_nats
from venues.scenario import Scenario, load_scenario

log = logging.getLogger(__name__)


@dataclass
class Stack:
    """What `oms up` runs: start() brings everything up, stop() takes it down in order."""

    settings: Settings
    scenario: Scenario | None = None
    nats_url: str = ""
    app: OmsApp | None = None
    _nats: EmbeddedNats | None = None
    _started: list[str] = field(default_factory=list)

    async def start(self) -> None:
        self.scenario = load_scenario(self.settings.scenario_path)
        self.nats_url, self._nats = await resolve_nats(self.settings.nats_url)
        instruments = {i.symbol: i for i in self.scenario.instruments}
        self.app = OmsApp(self.settings, instruments, resolve_auth_secret(self.settings))
        await self.app.start()

    async def stop(self) -> None:
        if self.app is not None:
            await self.app.stop()
        if self._nats is not None:
            await self._nats.stop()

    def admin_token(self) -> str:
        assert self.app is not None
        return issue_token(self.app.auth_secret, "operator", Role.ADMIN)

    def endpoints(self) -> dict[str, str]:
        assert self.app is not None and self.scenario is not None
        return {
            "grpc": self.app.address,
            "nats": self.nats_url + ("" if self._nats is None else " (embedded)"),
            "database": self.settings.db_url,
            "venues": ", ".join(v.name for v in self.scenario.venues),
        }

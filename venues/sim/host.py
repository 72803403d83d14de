"""Several venue simulators in one process, on one NATS connection."""

from __future__ import annotations

from collections.abc import Sequence

from nats.aio.client import Client as NatsClient

from venues.nats_client import close_nats, connect_nats
from venues.scenario import Scenario, VenueConfig
from venues.sim.service import VenueSimulator


class VenueHost:
    """Starts the simulators of ``configs`` (default: every simulated venue of the
    scenario; a FIX venue is an outside process) and stops them, and their connection,
    together."""

    def __init__(
        self, nats_url: str, scenario: Scenario, configs: Sequence[VenueConfig] | None = None
    ) -> None:
        self.nats_url = nats_url
        self.scenario = scenario
        chosen = scenario.venues if configs is None else configs
        self.configs = [config for config in chosen if config.protocol == "nats"]
        self.simulators: dict[str, VenueSimulator] = {}
        self.client: NatsClient | None = None

    async def start(self) -> None:
        names = ",".join(config.name for config in self.configs)
        self.client = await connect_nats(self.nats_url, name=f"venues-{names}")
        for config in self.configs:
            simulator = VenueSimulator(self.client, self.scenario, config)
            self.simulators[config.name] = simulator
            await simulator.start()

    async def stop(self) -> None:
        for simulator in self.simulators.values():
            await simulator.stop()
        if self.client is not None:
            await close_nats(self.client)
            self.client = None

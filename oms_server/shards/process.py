"""One shard process (`oms shard`): a standby until it holds the shard's lease, then its owner.

As an owner it is today's OMS (``OmsApp``) on the shard's own store, with the shard's
own venue route and durable consumer and order ids that name the shard, on a loopback
gRPC port the front forwards to. Its life:

1. ``start``: connect to NATS, listen to the shard's announcements, announce STANDBY.
2. ``serve`` (the rest of its life): wait for the lease (``takeover.take_lease``);
   announce RECOVERING; rebuild from the store; reconcile every open child with the
   venues; announce ACTIVE with its address. Then serve until the engine stops or the
   lease is lost (another process took the token: checked in the store every
   ``FENCE_CHECK_INTERVAL_S``, and seen sooner when it announces a higher token); it
   returns why, and the process exits (its supervisor starts a new standby).
3. ``stop``: announce STOPPING (a standby goes for the lease as soon as it is free),
   drain and release.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from nats.aio.client import Client as NatsClient

from oms_server.app import OmsApp
from oms_server.config import Settings
from oms_server.domain.errors import OmsError
from oms_server.domain.instruments import Instrument
from oms_server.shards.announce import Announcement, Announcer, Role, ShardWatch
from oms_server.shards.takeover import take_lease
from oms_server.store.database import create_engine
from oms_server.store.lease import LeaseLostError, StoreLease, current_lease_statement, open_lease
from venues.nats_client import DEFAULT_REPLICAS, close_nats, connect_nats
from venues.scenario import Scenario

log = logging.getLogger(__name__)

#: Seconds between two reads of the store's lease token by its owner.
FENCE_CHECK_INTERVAL_S = 0.5


@dataclass
class ShardProcess:
    """A shard's owner or standby; ``settings`` name the shard's store and gRPC address."""

    settings: Settings
    shard_id: int
    scenario: Scenario
    auth_secret: str
    nats_url: str
    exec_replicas: int = DEFAULT_REPLICAS
    app: OmsApp | None = None
    lease: StoreLease | None = None
    watch: ShardWatch | None = None
    announcer: Announcer | None = None
    _nc: NatsClient | None = field(default=None, repr=False)

    @property
    def role(self) -> Role:
        return Role.STANDBY if self.announcer is None else self.announcer.current.role

    async def start(self) -> None:
        """Join the shard's announcements as a standby."""
        announcement = Announcement.of_this_process(self.shard_id)
        self._nc = await connect_nats(self.nats_url, name=f"oms-shard-{self.shard_id}-standby")
        self.watch = ShardWatch([self.shard_id])
        await self.watch.start(self._nc)
        self.announcer = Announcer(self._nc, announcement)
        await self.announcer.start()
        self.lease = open_lease(self.settings.db_url)
        log.info("shard %d: standing by (pid %d)", self.shard_id, announcement.pid)

    async def serve(self) -> OmsError:
        """Take the shard over when its lease comes free, serve it; return why it ended."""
        assert self.lease is not None and self.watch is not None and self.announcer is not None
        how = await take_lease(
            self.lease, self.watch, self.shard_id, self.announcer.current.instance
        )
        log.info("shard %d: lease %s (token %s)", self.shard_id, how.value, self.lease.token)
        await self.announcer.update(role=Role.RECOVERING, token=self.lease.token or 0)
        self.app = self._make_app()
        await self.app.start()
        if self.app.connector is not None:
            await self.app.connector.reconcile_open_children()
        engine = self.app.engine
        assert engine is not None
        self.announcer.count_accounts_with(engine.account_count)
        await self.announcer.update(role=Role.ACTIVE, address=self.app.address)
        log.info("shard %d: active on %s", self.shard_id, self.app.address)
        return await self._first_failure(self.app)

    async def stop(self) -> None:
        """Announce STOPPING, drain the OMS and let go of the lease; leave NATS."""
        try:
            if self.announcer is not None and self.role.holds_lease:
                await self.announcer.update(role=Role.STOPPING, address="")
            if self.app is not None:
                await self.app.stop()
            elif self.lease is not None:
                await self.lease.release()
        finally:
            if self.announcer is not None:
                await self.announcer.stop()
            if self.watch is not None:
                await self.watch.stop()
            if self._nc is not None:
                await close_nats(self._nc)

    def _make_app(self) -> OmsApp:
        return OmsApp(
            self.settings,
            _instruments(self.scenario),
            self.auth_secret,
            venue_configs=self.scenario.venues,
            nats_url=self.nats_url,
            session=self.scenario.session,
            shard_id=self.shard_id,
            exec_replicas=self.exec_replicas,
            lease=self.lease,
        )

    async def _first_failure(self, app: OmsApp) -> OmsError:
        """Whichever comes first: the engine stopping, or the lease going to another."""
        waits = [
            asyncio.ensure_future(app.wait_failed()),
            asyncio.ensure_future(self._lease_lost()),
        ]
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        return done.pop().result()

    async def _lease_lost(self) -> LeaseLostError:
        """Return once another process holds the shard's token (it took over)."""
        assert self.lease is not None and self.watch is not None
        token = self.lease.token or 0
        engine = create_engine(self.settings.db_url)
        read_at = 0.0
        try:
            while True:
                owner = self.watch.owner(self.shard_id)
                if owner is not None and owner.token > token:
                    return _lost(token, f"shard process pid {owner.pid} announces {owner.token}")
                if time.monotonic() >= read_at:
                    read_at = time.monotonic() + FENCE_CHECK_INTERVAL_S
                    async with engine.connect() as conn:
                        row = (await conn.execute(current_lease_statement())).first()
                    if row is not None and int(row[0]) != token:
                        return _lost(token, f"the store has token {row[0]}")
                await self.watch.wait_changed(FENCE_CHECK_INTERVAL_S)
        finally:
            await engine.dispose()


def _lost(token: int, now: str) -> LeaseLostError:
    return LeaseLostError(
        f"the shard's lease was taken over (this process held token {token}, {now}); "
        "it commits nothing more"
    )


def _instruments(scenario: Scenario) -> Mapping[str, Instrument]:
    return {i.symbol: i for i in scenario.instruments}

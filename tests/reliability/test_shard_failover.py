"""Account shards with failover, as `oms up --shards 2 --standby --nats-cluster 3` runs them.

One stack serves the module (it takes ~10 s to start): every test first waits until each
shard has an active owner and a standby again, so they do not depend on their order.
Real processes throughout: shard owners and standbys, three nats-server nodes, venues.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients.sdk import OmsClient
from clients.sdk.errors import OmsError
from oms_server.domain.access import Role
from oms_server.domain.order_ids import shard_of_order_id
from oms_server.shards.announce import Announcement, status_subject
from protos.oms.v1 import common_pb2, order_pb2, order_service_pb2, order_service_pb2_grpc
from protos.oms.v1.admin_service_pb2 import SHARD_STATE_ACTIVE as ACTIVE
from tests.support.fix_messages import now as now_fix
from tests.support.fix_raw import RawFix
from tests.support.fixtures import token
from tests.support.market import MOVING_MARKET
from tests.support.orders import limit_buy
from tests.support.process import FRESH_CHANNEL
from tests.support.reports import FINAL_STATES
from tests.support.shards import ShardedStack, accounts_on, ioc_buy, venue_fills
from tests.support.waiting import eventually
from venues.nats_client import close_nats, connect_nats

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

#: The contract: a killed owner's standby serves its shard within this.
TAKEOVER_LIMIT_S = 5.0
#: How far above the best ask a buy's limit is: marketable while the market walks,
#: well inside the price collar.
MARKETABLE_BPS = Decimal("100")
VENUES = ["ALPHA", "BRAVO", "CHARLIE"]
#: Seconds of unchanged announcements after which account counts are taken as current.
SETTLED_S = 0.6


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ShardedStack]:
    workdir = tmp_path_factory.mktemp("shards")
    scenario = workdir / "scenario.toml"
    scenario.write_text(MOVING_MARKET)
    running = ShardedStack(workdir, scenario)
    await running.start()
    try:
        yield running
    finally:
        assert await running.stop() == 0
        assert running.left_running == set(), "a child outlived the stack"


@pytest_asyncio.fixture(loop_scope="module")
async def healthy(stack: ShardedStack) -> ShardedStack:
    await stack.wait_healthy()
    return stack


async def test_calls_go_to_their_shard_and_admin_calls_span_every_shard(
    healthy: ShardedStack,
) -> None:
    stack = healthy
    one, two = (
        accounts_on(stack.shard_map, 1, 1, "R1-")[0],
        accounts_on(stack.shard_map, 2, 1, "R2-")[0],
    )
    before = await _settled_account_counts(stack)
    await stack.open_accounts([one, two])
    async with stack.client(one, two) as trader, stack.client(role=Role.ADMIN) as admin:
        limit = await _marketable(trader)
        first = await trader.submit_order(**ioc_buy(one, "route-1", limit))
        second = await trader.submit_order(**ioc_buy(two, "route-2", limit))
        assert (shard_of_order_id(first.order_id), shard_of_order_id(second.order_id)) == (1, 2)
        assert (await trader.get_order(second.order_id)).account_id == two
        with pytest.raises(OmsError) as unknown:
            await trader.get_order("0" * 16 + "02ff" + "0" * 6)
        assert unknown.value.code is grpc.StatusCode.NOT_FOUND
        await admin.halt("", reason="both shards")  # the IOCs may still be working
        try:
            for account, cid in ((one, "route-3"), (two, "route-4")):
                with pytest.raises(OmsError) as halted:
                    await trader.submit_order(**ioc_buy(account, cid, limit))
                assert halted.value.reason == "TRADING_HALTED"
        finally:
            await admin.resume("")
        await trader.submit_order(**ioc_buy(two, "route-5", limit))
        venues = await admin.list_venues()
        assert sorted(v.name for v in venues) == VENUES
        answers = await _order_entry(stack, one, two, limit)
        assert shard_of_order_id(answers["e1"].order.order_id) == 1
        assert shard_of_order_id(answers["e2"].order.order_id) == 2
        assert answers["e3"].error.code == grpc.StatusCode.NOT_FOUND.value[0]
        reports = [r async for r in _take(trader.reports(two), 2)]
        assert [r.sequence for r in reports] == [1, 2]

    async def counted() -> dict[int, int] | None:
        after = {s.shard_id: s.account_count for s in await stack.shards_now()}
        return after if after == {1: before[1] + 1, 2: before[2] + 1} else None

    assert await eventually(counted, message=f"each shard counts its new account ({before})")
    assert stack.channel is not None
    health = await health_pb2_grpc.HealthStub(stack.channel).Check(health_pb2.HealthCheckRequest())
    assert health.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_fix_session_trades_through_the_front_on_either_shard(
    healthy: ShardedStack,
) -> None:
    """The stack's FIX gateway is a client of the front: orders of accounts on both
    shards, sent on one FIX session, are filled and reported."""
    stack = healthy
    one, two = (
        accounts_on(stack.shard_map, 1, 1, "F1-")[0],
        accounts_on(stack.shard_map, 2, 1, "F2-")[0],
    )
    await stack.open_accounts([one, two])
    async with stack.client(one, two) as trader:
        limit = await _marketable(trader)
    fix = await RawFix(stack.fix_port, "SHARDDESK").connect()
    try:
        await fix.send(fix.logon(token(Role.TRADER, (one, two))))
        await fix.read_until("A")
        for account, cl_ord_id in ((one, "fix-1"), (two, "fix-2")):
            await fix.send(fix.message("D", [
                (1, account), (11, cl_ord_id), (55, "AAPL"), (54, "1"), (60, now_fix()),
                (38, "10"), (40, "2"), (44, limit), (59, "3"),
            ]))  # fmt: skip
        finals: dict[str, str] = {}
        while len(finals) < 2:
            report = await fix.read_until("8", timeout_s=30)
            if report[39] in ("2", "4"):  # filled, or an IOC remainder canceled
                finals[report[11]] = report[39]
        assert set(finals) == {"fix-1", "fix-2"}
    finally:
        await fix.close()
    async with stack.client(one, two) as trader:
        filled = [o for a in (one, two) for o in (await trader.list_orders(a)).orders]
    assert {shard_of_order_id(o.order_id) for o in filled} == {1, 2}
    assert all(o.client_order_id in ("fix-1", "fix-2") for o in filled)


async def test_a_killed_owner_is_replaced_within_5s_losing_nothing_while_the_other_shard_answers(
    healthy: ShardedStack,
) -> None:
    stack = healthy
    one, two = (
        accounts_on(stack.shard_map, 1, 1, "K1-")[0],
        accounts_on(stack.shard_map, 2, 1, "K2-")[0],
    )
    await stack.open_accounts([one, two])
    victim = await stack.shard(2)
    async with stack.client(one, two) as trader, stack.client(two) as follower:
        seen: list[order_pb2.ExecutionReport] = []
        following = asyncio.create_task(_collect(follower.reports(two), seen))
        burst = _Burst(trader, {1: one, 2: two}, "kill")
        sending = asyncio.create_task(burst.run(duration_s=6.0))
        await eventually(lambda: burst.acked[2] >= 20 or burst.errors, message="shard 2 trading")
        assert not burst.errors, burst
        killed_at = time.monotonic()
        os.kill(victim.owner_pid, signal.SIGKILL)

        async def replaced() -> bool:
            shard = await stack.shard(2)
            return shard.owner_pid not in (0, victim.owner_pid) and shard.state == ACTIVE

        await eventually(replaced, timeout_s=TAKEOVER_LIMIT_S + 1, message="a new owner")
        takeover_s = time.monotonic() - killed_at
        await sending
        assert takeover_s < TAKEOVER_LIMIT_S
        assert (await stack.shard(2)).owner_pid == victim.standby_pid
        # shard 1 answered throughout: no failure, and no call slower than a second
        slow = [(s, round(at - killed_at, 2), round(t, 2)) for s, at, t in burst.calls if t > 0.3]
        assert burst.failed[1] == 0 and burst.slowest_s[1] < 1.0, (burst, slow)
        assert burst.acked[2] > 20 and burst.acked_after(2, killed_at + takeover_s) > 0
        for order_id in burst.order_ids():
            assert (await _final(trader, order_id)).state in FINAL_STATES
        head = await _stored_events(trader, two)
        await eventually(lambda: len(seen) >= head, message="the follower caught up")
        following.cancel()
    assert [r.sequence for r in seen] == list(range(1, head + 1))
    assert len({r.exec_id for r in seen}) == len(seen)


async def test_a_deposed_owner_that_comes_back_commits_nothing(healthy: ShardedStack) -> None:
    stack = healthy
    account = accounts_on(stack.shard_map, 1, 1, "D1-")[0]
    await stack.open_accounts([account])
    deposed = await stack.shard(1)
    address = await _address_of(stack, 1, deposed.owner_pid)
    os.kill(deposed.owner_pid, signal.SIGSTOP)
    try:

        async def replaced() -> bool:
            shard = await stack.shard(1)
            return shard.owner_pid not in (0, deposed.owner_pid) and shard.state == ACTIVE

        await eventually(replaced, timeout_s=10, message="the standby seized shard 1")
        async with stack.client(account) as trader:
            limit = await _marketable(trader)
            served = await trader.submit_order(**ioc_buy(account, "after-seize", limit))
            # sent to the deposed owner itself while it is stopped: it handles it on SIGCONT
            async with grpc.aio.insecure_channel(address, options=FRESH_CHANNEL) as direct:
                stub = order_service_pb2_grpc.OrderServiceStub(direct)
                late = asyncio.ensure_future(
                    stub.SubmitOrder(
                        limit_buy("to-the-deposed", account_id=account, limit_price=limit),
                        metadata=(("authorization", f"Bearer {token(Role.TRADER, (account,))}"),),
                        timeout=10,
                    )
                )
                await eventually(
                    lambda: direct.get_state() is grpc.ChannelConnectivity.CONNECTING,
                    message="the call on its way to the stopped owner",
                )
                os.kill(deposed.owner_pid, signal.SIGCONT)
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await late
            assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
            assert await _gone(deposed.owner_pid), "the deposed owner should exit"
            orders = await trader.list_orders(account)
            assert [o.client_order_id for o in orders.orders] == ["after-seize"]
            assert (await trader.get_order(served.order_id)).state in FINAL_STATES
    finally:
        _continue(deposed.owner_pid)


async def test_a_nats_node_killed_mid_burst_loses_and_doubles_no_fill(
    healthy: ShardedStack,
) -> None:
    stack = healthy
    one, two = (
        accounts_on(stack.shard_map, 1, 1, "N1-")[0],
        accounts_on(stack.shard_map, 2, 1, "N2-")[0],
    )
    await stack.open_accounts([one, two])
    nodes = stack.nats_node_pids()
    assert len(nodes) == 3
    async with stack.client(one, two) as trader:
        burst = _Burst(trader, {1: one, 2: two}, "nats")
        sending = asyncio.create_task(burst.run(duration_s=5.0))
        await eventually(lambda: sum(burst.acked.values()) >= 40 or burst.errors, message="trading")
        assert not burst.errors, burst
        command = stack.kill_nats_node(nodes[0])
        await asyncio.sleep(1.5)  # mid-burst, one node down
        stack.restart_nats_node(command)
        await sending
        orders = [await _final(trader, order_id) for order_id in burst.order_ids()]
        assert all(o.state in FINAL_STATES for o in orders)
        stored: dict[str, tuple[int, Decimal]] = {}
        for account in (one, two):
            executions = await _executions(trader, account)
            assert len({e.exec_id for e in executions}) == len(executions)
            for e in executions:
                count, qty = stored.get(e.order_id, (0, Decimal(0)))
                stored[e.order_id] = (count + 1, qty + Decimal(e.last_qty))

    async def venues_agree() -> bool:
        at_venues = await venue_fills(stack.nats_url, VENUES)
        made: dict[str, tuple[int, Decimal]] = {}
        for order in orders:
            children = [f for child, f in at_venues.items() if child.startswith(order.order_id)]
            made[order.order_id] = (
                sum(c for c, _ in children),
                sum((q for _, q in children), Decimal(0)),
            )
        expected = {o.order_id: stored.get(o.order_id, (0, Decimal(0))) for o in orders}
        return made == expected

    await eventually(venues_agree, timeout_s=10, message="fills stored = fills at venues")
    assert sum(Decimal(o.cum_qty) for o in orders) == sum(q for _, q in stored.values()) > 0
    assert burst.failed == {1: 0, 2: 0}, burst


# -- helpers -------------------------------------------------------------------------------


class _Burst:
    """Small marketable IOC buys on one account per shard, at a steady rate, recording
    what was acknowledged (an order id came back), what failed, and each call's time."""

    def __init__(self, client: OmsClient, accounts: dict[int, str], tag: str) -> None:
        self._client = client
        self._accounts = accounts
        self._tag = tag
        self.acked: dict[int, int] = dict.fromkeys(accounts, 0)
        self.failed: dict[int, int] = dict.fromkeys(accounts, 0)
        self.slowest_s: dict[int, float] = dict.fromkeys(accounts, 0.0)
        self._acks: list[tuple[int, float, str]] = []
        self.errors: list[str] = []
        self.calls: list[tuple[int, float, float]] = []
        self._limit = ""

    def __repr__(self) -> str:
        return (
            f"_Burst(acked={self.acked}, failed={self.failed}, slowest_s={self.slowest_s}, "
            f"errors={sorted(set(self.errors))[:3]})"
        )

    async def run(self, *, duration_s: float, interval_s: float = 0.04) -> None:
        self._limit = await _marketable(self._client)
        calls: list[asyncio.Task[None]] = []
        end = time.monotonic() + duration_s
        n = 0
        while time.monotonic() < end:
            for shard_id, account in self._accounts.items():
                calls.append(asyncio.create_task(self._submit(shard_id, account, n)))
            n += 1
            await asyncio.sleep(interval_s)
        await asyncio.gather(*calls)

    async def _submit(self, shard_id: int, account: str, n: int) -> None:
        started = time.monotonic()
        try:
            order = await self._client.submit_order(
                **ioc_buy(account, f"{self._tag}-{account}-{n}", self._limit)
            )
        except OmsError as error:
            self.failed[shard_id] += 1
            self.errors.append(str(error))
            return
        finally:
            took = time.monotonic() - started
            self.slowest_s[shard_id] = max(self.slowest_s[shard_id], took)
            self.calls.append((shard_id, started, took))
        self.acked[shard_id] += 1
        self._acks.append((shard_id, time.monotonic(), order.order_id))

    def acked_after(self, shard_id: int, moment: float) -> int:
        return sum(1 for s, at, _ in self._acks if s == shard_id and at > moment)

    def order_ids(self) -> list[str]:
        return [order_id for _, _, order_id in self._acks]


async def _order_entry(
    stack: ShardedStack, one: str, two: str, limit: str
) -> dict[str, order_service_pb2.OrderEntryResponse]:
    """One OrderEntry stream through the front: a submit on each shard, a cancel of an
    order nobody has; the answers by correlation id."""
    assert stack.channel is not None
    ioc = {"limit_price": limit, "time_in_force": common_pb2.TIME_IN_FORCE_IOC}
    requests = [
        order_service_pb2.OrderEntryRequest(
            correlation_id="e1", submit=limit_buy("entry-1", account_id=one, **ioc)
        ),
        order_service_pb2.OrderEntryRequest(
            correlation_id="e2", submit=limit_buy("entry-2", account_id=two, **ioc)
        ),
        order_service_pb2.OrderEntryRequest(
            correlation_id="e3",
            cancel=order_service_pb2.CancelOrderRequest(order_id="0" * 16 + "01ff" + "0" * 6),
        ),
    ]
    metadata = (("authorization", f"Bearer {token(Role.TRADER, (one, two))}"),)
    call = order_service_pb2_grpc.OrderServiceStub(stack.channel).OrderEntry(
        iter(requests), metadata=metadata, timeout=10
    )
    return {answer.correlation_id: answer async for answer in call}


async def _settled_account_counts(stack: ShardedStack) -> dict[int, int]:
    """Each shard's account count, once announcements have said the same for a while."""
    seen: list[tuple[float, dict[int, int]]] = []

    async def settled() -> dict[int, int] | None:
        counts = {s.shard_id: s.account_count for s in await stack.shards_now()}
        if not seen or seen[-1][1] != counts:
            seen.append((time.monotonic(), counts))
        since, latest = seen[-1]
        return latest if time.monotonic() - since > SETTLED_S else None

    return await eventually(settled, message="account counts settled")


async def _marketable(client: OmsClient) -> str:
    """A buy limit that takes the best ask now."""
    ask = Decimal((await client.get_quote("AAPL")).ask_price)
    return str((ask * (1 + MARKETABLE_BPS / 10_000)).quantize(Decimal("0.01")))


async def _final(client: OmsClient, order_id: str) -> order_pb2.Order:
    async def final() -> order_pb2.Order | None:
        order = await client.get_order(order_id)
        return order if order.state in FINAL_STATES else None

    return await eventually(final, timeout_s=15, message=f"order {order_id} final")


async def _stored_events(client: OmsClient, account: str) -> int:
    """How many reports the account has: its last sequence."""
    orders = await client.list_orders(account, page_size=1000)
    total = 0
    for order in orders.orders:
        total += len(await client.get_order_events(order.order_id))
    return total


async def _collect(reports: AsyncIterator[order_pb2.ExecutionReport], into: list) -> None:
    async for report in reports:
        into.append(report)


async def _take(reports: AsyncIterator[order_pb2.ExecutionReport], count: int) -> AsyncIterator:
    taken = 0
    async for report in reports:
        yield report
        taken += 1
        if taken == count:
            return


async def _executions(client: OmsClient, account: str) -> list:
    found, token = [], ""
    while True:
        page = await client.list_executions(account, page_token=token, page_size=1000)
        found.extend(page.executions)
        token = page.next_page_token
        if not token:
            return found


async def _address_of(stack: ShardedStack, shard_id: int, pid: int) -> str:
    """The gRPC address process ``pid`` announces for its shard."""
    nc = await connect_nats(stack.nats_url, name="test-announcements")
    heard: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def on_message(msg: object) -> None:
        announcement = Announcement.decode(msg.data)  # type: ignore[attr-defined]
        if announcement.pid == pid and announcement.address and not heard.done():
            heard.set_result(announcement.address)

    try:
        await nc.subscribe(status_subject(shard_id), cb=on_message)
        return await asyncio.wait_for(heard, 5)
    finally:
        await close_nats(nc)


async def _gone(pid: int) -> bool:
    def exited() -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        return state == "Z"

    return bool(await eventually(exited, timeout_s=10, message=f"process {pid} exited"))


def _continue(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)

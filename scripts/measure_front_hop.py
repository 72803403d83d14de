"""What the sharded front's hop costs a call: latency and CPU, front vs straight to the shard.

    .venv/bin/python scripts/measure_front_hop.py --calls 2000 --rounds 5

One process holds a shard (an OmsApp serving shard 1 on its own SQLite store, no venues),
the front (fed the shard's announcement directly, no NATS) and a client. The client
makes the same calls (GetOrder of one order: one engine read, no commit; SubmitOrder:
a commit) straight to the shard and through the front, in alternating slices so drift
hits both alike. Everything runs in one event loop, so the difference in process CPU
per call is what the front adds (its server side and its client side of the hop), and
the difference in latency is that CPU plus the loopback round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import grpc

from oms_server.api.auth import issue_token
from oms_server.app import OmsApp
from oms_server.config import Settings
from oms_server.domain.access import Role
from oms_server.domain.instruments import Instrument
from oms_server.domain.shards import ShardMap
from oms_server.shards.announce import ANNOUNCE_INTERVAL_S, Announcement, ShardWatch
from oms_server.shards.announce import Role as ShardRole
from oms_server.shards.front import Front
from protos.oms.v1 import common_pb2, order_service_pb2, order_service_pb2_grpc

SECRET = "measure-front-hop-secret-0123456789abcdef"
INSTRUMENTS = {"AAPL": Instrument("AAPL", Decimal("0.01"), Decimal("1"), Decimal("190.00"))}
ACCOUNT = "HOP1"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per slice")
    parser.add_argument("--rounds", type=int, default=5, help="slices per path")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        await measure(Path(workdir), args.calls, args.rounds)


async def measure(workdir: Path, calls: int, rounds: int) -> None:
    settings = Settings(
        grpc_addr="127.0.0.1:0",
        db_url=f"sqlite+aiosqlite:///{workdir / 'oms.db'}",
        state_dir=workdir,
    )
    shard = OmsApp(settings, INSTRUMENTS, SECRET, shard_id=1)
    await shard.start()
    assert shard.engine is not None
    await shard.engine.create_account(ACCOUNT)
    await shard.engine.deposit(ACCOUNT, Decimal("1000000000"))
    watch = ShardWatch()
    announcing = asyncio.create_task(
        _announce(watch, Announcement(1, "shard", 0, ShardRole.ACTIVE, 1, shard.address))
    )
    front = Front("127.0.0.1:0", ShardMap.even(1), watch, SECRET)
    await front.start()
    token = issue_token(SECRET, "measure", Role.TRADER, [ACCOUNT])
    metadata = (("authorization", f"Bearer {token}"),)
    channels = {
        "shard": grpc.aio.insecure_channel(shard.address),
        "front": grpc.aio.insecure_channel(front.address),
    }
    try:
        stubs = {name: order_service_pb2_grpc.OrderServiceStub(c) for name, c in channels.items()}
        first = await stubs["shard"].SubmitOrder(_order("hop-0"), metadata=metadata)
        get = order_service_pb2.GetOrderRequest(order_id=first.order.order_id)
        counter = iter(range(1, 10**9))

        def get_order(stub: order_service_pb2_grpc.OrderServiceStub) -> Awaitable[object]:
            return stub.GetOrder(get, metadata=metadata)

        def submit(stub: order_service_pb2_grpc.OrderServiceStub) -> Awaitable[object]:
            return stub.SubmitOrder(_order(f"hop-{next(counter)}"), metadata=metadata)

        for name, call in (("GetOrder", get_order), ("SubmitOrder", submit)):
            results = await _slices(stubs, call, calls, rounds)
            _report(name, results["shard"], results["front"])
    finally:
        for channel in channels.values():
            await channel.close()
        announcing.cancel()
        await front.stop(0)
        await shard.stop(0)


async def _announce(watch: ShardWatch, announcement: Announcement) -> None:
    """The shard's announcements, as NATS would bring them (without NATS)."""
    while True:
        watch.hear(announcement)
        await asyncio.sleep(ANNOUNCE_INTERVAL_S)


def _order(client_order_id: str) -> order_service_pb2.SubmitOrderRequest:
    return order_service_pb2.SubmitOrderRequest(
        account_id=ACCOUNT,
        client_order_id=client_order_id,
        symbol="AAPL",
        side=common_pb2.SIDE_BUY,
        order_type=common_pb2.ORDER_TYPE_LIMIT,
        time_in_force=common_pb2.TIME_IN_FORCE_DAY,
        quantity="1",
        limit_price="150.00",
    )


async def _slices(
    stubs: dict[str, order_service_pb2_grpc.OrderServiceStub],
    call: Callable[[order_service_pb2_grpc.OrderServiceStub], Awaitable[object]],
    calls: int,
    rounds: int,
) -> dict[str, tuple[list[float], float]]:
    """Per path: the latency (s) of every call and the process CPU per call (s)."""
    latencies: dict[str, list[float]] = {name: [] for name in stubs}
    cpu = dict.fromkeys(stubs, 0.0)
    for _ in range(rounds):
        for name in stubs:  # alternate: both paths see the machine at the same moments
            started_cpu = time.process_time()
            for _ in range(calls):
                started = time.perf_counter()
                await call(stubs[name])
                latencies[name].append(time.perf_counter() - started)
            cpu[name] += time.process_time() - started_cpu
    return {name: (latencies[name], cpu[name] / (calls * rounds)) for name in stubs}


def _report(name: str, shard: tuple[list[float], float], front: tuple[list[float], float]) -> None:
    def p(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q) - 1] * 1e6

    print(f"{name}: {len(shard[0])} calls per path")
    for label, (latencies, cpu) in (("straight to the shard", shard), ("through the front", front)):
        print(
            f"  {label:<22} p50 {p(latencies, 50):7.0f} us  p99 {p(latencies, 99):7.0f} us"
            f"  CPU {cpu * 1e6:6.0f} us/call"
        )
    print(
        f"  the hop adds            p50 {p(front[0], 50) - p(shard[0], 50):7.0f} us"
        f"              CPU {(front[1] - shard[1]) * 1e6:6.0f} us/call"
    )


if __name__ == "__main__":
    asyncio.run(main())

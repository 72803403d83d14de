"""The OMS server's resident memory before, during and after bursts of orders.

    .venv/bin/python scripts/measure_rss.py --warmup 11000 --burst 8000 --rounds 3

The bench stack with the venues apart (nats-server, `oms venue`, `oms server`: the OMS
process holds only the OMS), on the bench scenario. A warm-up of marketable IOC buys,
sent within the engine's fair share, first fills the OMS's bounded caches (the client
order ids it keeps, 10,000; each account's recent reports, 4,096), so what follows
measures what a burst leaves behind, not caches filling. Each round then sends a burst
as fast as ``--streams`` OrderEntry streams with ``--in-flight`` unanswered each take it
(above the engine's fair share: some are refused RESOURCE_EXHAUSTED), samples the
server's RSS (/proc) every 0.2 s, waits ``--settle-s`` once the burst is answered, and
prints RSS before, at the peak and after, in MiB. "Back near its start": after within
10% of before, round after round and over all rounds (the exit code says whether it was).

Seen here: the first burst past the fair share lifts RSS by 11-14% (a high-water mark:
CPython and glibc keep freed memory for reuse); later bursts leave it within +-3%.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from clients.bench.aio import run as run_loop
from clients.bench.orders import OrderShape
from clients.bench.procstats import BYTES_PER_MIB, rss_bytes
from clients.bench.setup import prepare_accounts, wait_for_market
from clients.bench.system import bench_scenario_path, started_stack
from clients.sdk import OmsClient
from protos.oms.v1 import order_service_pb2 as pb

ACCOUNT = "RSS"
RSS_SAMPLE_S = 0.2
#: After within this much of before: "back near its start".
NEAR_START = 0.10
#: The warm-up's OrderEntry streams and unanswered orders on each: within the fair share,
#: so that every order is accepted and remembered.
WARMUP_STREAMS = (2, 64)


@dataclass
class Round:
    """One burst: what was accepted and refused, its time, and the server's RSS."""

    accepted: int
    refused: int
    seconds: float
    before: int
    peak: int
    after: int

    def line(self, number: int) -> str:
        growth = self.after / self.before - 1
        verdict = "near start" if growth <= NEAR_START else "NOT near start"
        return (
            f"round {number}: {self.accepted} accepted, {self.refused} refused in"
            f" {self.seconds:.1f} s; RSS before {_mib(self.before)}, peak {_mib(self.peak)},"
            f" after {_mib(self.after)} MiB ({growth:+.1%}, {verdict})"
        )


async def measure(args: argparse.Namespace) -> list[Round]:
    """Start the stack, warm it up, then run ``args.rounds`` bursts."""
    shape = OrderShape()
    async with started_stack(bench_scenario_path(), [ACCOUNT], venues_apart=True) as stack:
        target = stack.target
        assert target.server_pid is not None, "the stack did not say its server's pid"
        await prepare_accounts(target.address, target.admin_metadata, [ACCOUNT])
        await wait_for_market(target.address, target.metadata, shape.symbol)
        async with OmsClient(target.address, target.token) as client:
            sent = 0

            async def burst(count: int, streams: int, in_flight: int) -> tuple[int, int]:
                nonlocal sent
                requests = [
                    pb.OrderEntryRequest(submit=shape.taking_buy(ACCOUNT, f"rss-{sent + n}"))
                    for n in range(count)
                ]
                sent += count
                return await _send(client, requests, streams, in_flight)

            print(f"idle: RSS {_mib(_rss(target.server_pid))} MiB")
            accepted, refused = await burst(args.warmup, *WARMUP_STREAMS)
            print(f"warm-up: {accepted} accepted, {refused} refused")
            await asyncio.sleep(args.settle_s)
            rounds = []
            for number in range(1, args.rounds + 1):
                load = functools.partial(burst, streams=args.streams, in_flight=args.in_flight)
                rounds.append(await _round(target.server_pid, load, args))
                print(rounds[-1].line(number), flush=True)
    return rounds


async def _round(
    pid: int, burst: Callable[[int], Awaitable[tuple[int, int]]], args: argparse.Namespace
) -> Round:
    before = _rss(pid)
    peak = [before]
    sampler = asyncio.create_task(_sample(pid, peak))
    started = time.monotonic()
    try:
        accepted, refused = await burst(args.burst)
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    seconds = time.monotonic() - started
    await asyncio.sleep(args.settle_s)
    return Round(accepted, refused, seconds, before, max(peak[0], _rss(pid)), _rss(pid))


async def _send(
    client: OmsClient, requests: Sequence[pb.OrderEntryRequest], streams: int, in_flight: int
) -> tuple[int, int]:
    """Send ``requests`` over ``streams`` OrderEntry streams; (accepted, refused)."""

    async def one(chunk: Sequence[pb.OrderEntryRequest]) -> tuple[int, int]:
        accepted = refused = 0
        async for ack in client.order_entry(chunk, max_in_flight=in_flight):
            if ack.order is not None:
                accepted += 1
            else:
                refused += 1
        return accepted, refused

    results = await asyncio.gather(*(one(requests[i::streams]) for i in range(streams)))
    return sum(a for a, _ in results), sum(r for _, r in results)


async def _sample(pid: int, peak: list[int]) -> None:
    while True:
        peak[0] = max(peak[0], _rss(pid))
        await asyncio.sleep(RSS_SAMPLE_S)


def _rss(pid: int) -> int:
    rss = rss_bytes(pid)
    if rss is None:
        raise SystemExit(f"cannot read the RSS of process {pid} (is /proc there?)")
    return rss


def _mib(value: int) -> str:
    return f"{value / BYTES_PER_MIB:.1f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warmup", type=int, default=11_000, help="orders before round 1")
    parser.add_argument("--burst", type=int, default=8_000, help="orders per round")
    parser.add_argument("--rounds", type=int, default=3, help="bursts (at least 1)")
    parser.add_argument("--streams", type=int, default=4, help="OrderEntry streams")
    parser.add_argument("--in-flight", type=int, default=256, help="unanswered per stream")
    parser.add_argument("--settle-s", type=float, default=5.0, help="idle time after a burst")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    rounds = run_loop(measure(args))
    overall = rounds[-1].after / rounds[0].before - 1
    print(f"after the last round vs before the first: {overall:+.1%}")
    near = all(r.after <= r.before * (1 + NEAR_START) for r in rounds)
    return 0 if near and overall <= NEAR_START else 1


if __name__ == "__main__":
    raise SystemExit(main())

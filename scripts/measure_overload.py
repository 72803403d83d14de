"""Unary SubmitOrder at a multiple of the OMS's capacity: what is refused, how, and how
long the accepted orders wait.

    .venv/bin/python scripts/measure_overload.py --factor 3 --duration 10

The bench stack with the venues apart (nats-server, `oms venue`, `oms server`), on the
bench scenario. First a closed loop of ``--clients`` unary submits (marketable IOC buys
split across the venues) finds the capacity C, in accepted orders a second. Then an open
loop offers ``--factor`` x C for ``--duration`` seconds, spread over ``--heavy`` accounts,
with no retries (raw stubs, not the SDK), while a light account sends ``--light-rate``
orders a second. Each call has a deadline of ``--deadline-s``; every latency counts from
the scheduled send (an answer that waits in a queue shows).

Printed: the capacity; per status code the number of answers; the accepted orders' and
the refusals' p50 / p99; the light account's codes and p99. The exit code is 0 when
the overload was handled as issue 26 asks: refusals are RESOURCE_EXHAUSTED only (none
CANCELLED, UNAVAILABLE, DEADLINE_EXCEEDED...), accepted p99 under 500 ms, and the light
account never refused.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc

from clients.bench.aio import run as run_loop
from clients.bench.load import NS_PER_S, closed_loop, open_loop
from clients.bench.orders import CHANNEL_OPTIONS, OrderShape
from clients.bench.setup import prepare_accounts, wait_for_market
from clients.bench.stats import Latencies
from clients.bench.system import bench_scenario_path, started_stack
from protos.oms.v1 import order_service_pb2_grpc as pb_grpc

LIGHT = "LIGHT"
#: The accepted orders' p99 the issue asks for at 3x capacity.
ACCEPTED_P99_GOAL_MS = 500.0
#: Channels the load is spread over (gRPC multiplexes calls on each).
CHANNELS = 8


@dataclass
class Outcomes:
    """Answers by status code, with the latency of each kind."""

    codes: Counter[str] = field(default_factory=Counter)
    accepted: Latencies = field(default_factory=Latencies)
    refused: Latencies = field(default_factory=Latencies)
    samples: dict[str, str] = field(default_factory=dict)

    def record(self, code: grpc.StatusCode, since_ns: int, details: str = "") -> None:
        self.codes[code.name] += 1
        waited = time.perf_counter_ns() - since_ns
        (self.accepted if code is grpc.StatusCode.OK else self.refused).record_ns(waited)
        if details:
            self.samples.setdefault(code.name, details[:160])

    def line(self, label: str) -> str:
        codes = ", ".join(f"{name} {count}" for name, count in self.codes.most_common())
        return (
            f"{label}: {codes}; accepted p50/p99 {_pcts(self.accepted)} ms;"
            f" refused p50/p99 {_pcts(self.refused)} ms"
        )


def _pcts(latencies: Latencies) -> str:
    if not latencies.count:
        return "- / -"
    summary = latencies.summary()
    return f"{summary.p50_ms:.1f} / {summary.p99_ms:.1f}"


class Submitter:
    """Unary submits over a few channels, without retries."""

    def __init__(self, address: str, metadata: tuple[tuple[str, str], ...], deadline_s: float):
        self._channels = [
            grpc.aio.insecure_channel(address, options=list(CHANNEL_OPTIONS))
            for _ in range(CHANNELS)
        ]
        self._stubs = itertools.cycle([pb_grpc.OrderServiceStub(c) for c in self._channels])
        self._metadata = metadata
        self._deadline_s = deadline_s
        self._numbers = itertools.count()
        self.shape = OrderShape()

    async def submit(self, account_id: str, outcomes: Outcomes, since_ns: int) -> None:
        request = self.shape.taking_buy(account_id, f"ovl-{account_id}-{next(self._numbers)}")
        try:
            await next(self._stubs).SubmitOrder(
                request, metadata=self._metadata, timeout=self._deadline_s
            )
        except grpc.aio.AioRpcError as exc:
            outcomes.record(exc.code(), since_ns, str(exc.details()))
            return
        outcomes.record(grpc.StatusCode.OK, since_ns)

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


async def measure(args: argparse.Namespace) -> tuple[float, Outcomes, Outcomes]:
    heavy = [f"HEAVY{n}" for n in range(args.heavy)]
    async with started_stack(bench_scenario_path(), [*heavy, LIGHT], venues_apart=True) as stack:
        target = stack.target
        await prepare_accounts(target.address, target.admin_metadata, [*heavy, LIGHT])
        await wait_for_market(target.address, target.metadata, OrderShape().symbol)
        submitter = Submitter(target.address, target.metadata, args.deadline_s)
        try:
            probe = Outcomes()
            accounts = itertools.cycle(heavy)

            async def probe_call(i: int) -> None:
                await submitter.submit(next(accounts), probe, time.perf_counter_ns())

            started = time.perf_counter()
            await closed_loop(probe_call, args.clients, args.probe_s)
            capacity = probe.codes["OK"] / (time.perf_counter() - started)
            print(f"capacity: {capacity:,.0f} accepted/s ({probe.line('probe')})", flush=True)
            rate = capacity * args.factor
            flood, light = Outcomes(), Outcomes()

            async def flood_send(i: int, scheduled_ns: int) -> None:
                await submitter.submit(heavy[i % len(heavy)], flood, scheduled_ns)

            async def light_send(i: int, scheduled_ns: int) -> None:
                await submitter.submit(LIGHT, light, scheduled_ns)

            print(f"offering {rate:,.0f}/s ({args.factor:g}x) for {args.duration:g} s", flush=True)
            light_task = asyncio.create_task(open_loop(light_send, args.light_rate, args.duration))
            sent = await open_loop(flood_send, rate, args.duration)
            print(f"the client's sends left up to {sent.max_send_lag_ms:.0f} ms late", flush=True)
            await light_task
        finally:
            await submitter.close()
    return capacity, flood, light


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factor", type=float, default=3.0, help="offered load / capacity")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of overload")
    parser.add_argument("--probe-s", type=float, default=5.0, help="capacity probe seconds")
    parser.add_argument("--clients", type=int, default=50, help="closed-loop probe clients")
    parser.add_argument("--heavy", type=int, default=4, help="accounts sending the flood")
    parser.add_argument("--light-rate", type=float, default=5.0, help="light account's rate")
    parser.add_argument("--deadline-s", type=float, default=10.0, help="each call's deadline")
    args = parser.parse_args(argv)
    started = time.perf_counter_ns()
    capacity, flood, light = run_loop(measure(args))
    print(flood.line("flood"))
    print(light.line("light account"))
    for code, sample in flood.samples.items():
        print(f"  {code}: {sample}")
    refusals = set(flood.codes) - {"OK", "RESOURCE_EXHAUSTED"}
    accepted_p99 = flood.accepted.summary().p99_ms if flood.accepted.count else 0.0
    ok = (
        not refusals
        and accepted_p99 < ACCEPTED_P99_GOAL_MS
        and set(light.codes) == {"OK"}
        and capacity > 0
    )
    seconds = (time.perf_counter_ns() - started) / NS_PER_S
    verdict = "met" if ok else "NOT met"
    print(f"issue 26 overload goal {verdict} ({seconds:.0f} s in all)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

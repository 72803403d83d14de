"""Venue simulator cost: process CPU per order and reports per second, over real NATS.

    .venv/bin/python scripts/measure_venue.py --orders 5000 --rate 1500
    .venv/bin/python scripts/measure_venue.py --orders 5000 --rate 0     # all at once

Starts an embedded nats-server and one VenueSimulator (the first venue of the bench
scenario) in this process, on uvloop as the OMS runs. Marketable IOC child orders go
out on venue.<V>.orders as the OMS connector sends them (payloads built beforehand,
published in paced batches, flushed per batch). A run ends when every report (a NEW
and a FILL per order) is on the JetStream stream. Prints process CPU (time.process_time)
per order, reports per second, and the latency from sending an order to its FILL being
stored (read from the stream after the timed window). ``--repeat`` runs several rounds
on the same simulator; the median round is printed last.

Then the OMS side: a VenueConnector (with a stand-in engine that stores nothing) reads
every report of those rounds from the stream through its durable consumer, parses and
acks it; prints its CPU per report.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from clients.bench.aio import run as run_loop
from clients.bench.stats import Latencies, LatencySummary
from oms_server.domain.child import ChildOrder, VenueOrderStatus, VenueReport
from oms_server.domain.enums import OrderType, Side, TimeInForce
from oms_server.engine.ports import ExecutionSink
from oms_server.telemetry import inject_headers
from protos.venue.v1 import venue_pb2 as v
from router.book import VenueBook
from venues import subjects, wire
from venues.connector import VenueConnector
from venues.nats_client import close_nats, connect_nats
from venues.nats_runtime import EmbeddedNats
from venues.scenario import Scenario, VenueConfig, load_scenario
from venues.sim.service import VenueSimulator

SCENARIO = Path(__file__).resolve().parent.parent / "clients" / "bench" / "scenario.toml"
#: Orders sent (and waited for) before the first timed round.
WARM_UP_ORDERS = 300
#: Reports per order: the NEW ack and the FILL of a marketable IOC order.
REPORTS_PER_ORDER = 2
#: Paced sending: one batch every this many seconds.
SEND_TICK_S = 0.01
#: Interval between checks of the stream's message count.
POLL_S = 0.005
ROUND_TIMEOUT_S = 120.0
#: Marketable buy limit: one tick through the bench books' ask (100.01).
LIMIT_PRICE = Decimal("100.02")
FETCH_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Round:
    orders: int
    cpu_s: float
    wall_s: float
    fill_latency: LatencySummary

    @property
    def cpu_us_per_order(self) -> float:
        return self.cpu_s / self.orders * 1e6

    @property
    def reports_per_s(self) -> float:
        return self.orders * REPORTS_PER_ORDER / self.wall_s

    def line(self, label: str) -> str:
        latency = self.fill_latency
        return (
            f"{label}: {self.orders} orders, CPU {self.cpu_us_per_order:.1f} us/order "
            f"({self.cpu_s:.3f} s), {self.reports_per_s:,.0f} reports/s, "
            f"fill stored after p50 {latency.p50_ms:.2f} ms, p99 {latency.p99_ms:.2f} ms, "
            f"max {latency.max_ms:.2f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=5000, help="orders per timed round")
    parser.add_argument("--rate", type=float, default=1500.0, help="orders/s; 0: all at once")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds")
    parser.add_argument("--scenario", type=Path, default=SCENARIO)
    args = parser.parse_args()
    run_loop(measure(load_scenario(args.scenario), args.orders, args.rate, args.repeat))


async def measure(scenario: Scenario, orders: int, rate: float, repeat: int) -> None:
    config = scenario.venues[0]
    async with EmbeddedNats() as server:
        venue_nc = await connect_nats(server.url, name="venues")
        oms_nc = await nats.connect(server.url, name="oms")
        simulator = VenueSimulator(venue_nc, scenario, config)
        await simulator.start()
        try:
            sender = Sender(oms_nc, config.name, scenario.instruments[0].symbol)
            await sender.start()
            await sender.round(WARM_UP_ORDERS, rate)
            rounds = []
            for index in range(repeat):
                result = await sender.round(orders, rate)
                print(result.line(f"round {index + 1}"), flush=True)
                rounds.append(result)
            median = sorted(rounds, key=lambda r: r.cpu_s)[len(rounds) // 2]
            pace = "all at once" if rate <= 0 else f"{rate:.0f} orders/s"
            print(median.line(f"median ({config.name}, {pace})"), flush=True)
            await measure_connector(oms_nc, config, sender.reports)
        finally:
            await simulator.stop()
            await close_nats(venue_nc)
            await oms_nc.close()


class StandInEngine(ExecutionSink):
    """What the connector needs of the order engine; reports are counted, not stored."""

    def __init__(self) -> None:
        self.applied = 0

    async def apply_venue_reports(self, reports: list[VenueReport]) -> None:
        self.applied += len(reports)

    async def reconcile(self, venue: str, statuses: Mapping[str, VenueOrderStatus | None]) -> None:
        return None

    def stale_children(self) -> list[ChildOrder]:
        return []

    def open_children(self) -> list[ChildOrder]:
        return []

    def sweep_slice(self, limit: int) -> list[ChildOrder]:
        return []

    def working_children(self, venue: str) -> int:
        return 0

    def on_book(self, book: VenueBook) -> None:
        return None


async def measure_connector(nc: NatsClient, config: VenueConfig, reports: int) -> None:
    """CPU of the OMS connector reading, parsing and acking every report on the stream."""
    connector = VenueConnector(nc, [config])
    engine = StandInEngine()
    js = nc.jetstream()
    cpu = time.process_time()
    await connector.start(engine)
    deadline = time.monotonic() + ROUND_TIMEOUT_S
    while True:
        if engine.applied >= reports:
            info = await js.consumer_info(subjects.EXEC_STREAM, subjects.OMS_EXEC_CONSUMER)
            if info.num_pending == 0 and info.num_ack_pending == 0:
                break
        if time.monotonic() > deadline:
            raise TimeoutError(f"the connector applied {engine.applied} of {reports} reports")
        await asyncio.sleep(POLL_S)
    cpu = time.process_time() - cpu
    await connector.stop()
    per_report = cpu / reports * 1e6
    print(f"OMS connector: {reports} reports read, parsed, acked: CPU {per_report:.1f} us/report")


class Sender:
    """Sends rounds of marketable IOC children and waits for every report on the stream."""

    def __init__(self, nc: NatsClient, venue: str, symbol: str) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._venue = venue
        self._symbol = symbol
        self._sent_ns: dict[str, int] = {}
        self._published = 0
        self._all_published = asyncio.Event()
        self.reports = 0

    async def round(self, orders: int, rate: float) -> Round:
        first = len(self._sent_ns)
        payloads = [self._payload(f"m-{first + i}") for i in range(orders)]
        first_sequence = (await self._js.stream_info(subjects.EXEC_STREAM)).state.last_seq + 1
        self.reports += orders * REPORTS_PER_ORDER
        cpu, started = time.process_time(), time.monotonic()
        await self._send(payloads, rate)
        await self._wait_for_reports()
        cpu, wall = time.process_time() - cpu, time.monotonic() - started
        return Round(orders, cpu, wall, await self._fill_latency(orders, first_sequence))

    def _payload(self, child_id: str) -> tuple[str, bytes]:
        child = ChildOrder(
            child_order_id=child_id,
            parent_order_id=f"p-{child_id}",
            account_id="measure",
            venue=self._venue,
            symbol=self._symbol,
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            time_in_force=TimeInForce.IOC,
            quantity=Decimal(1 + len(self._sent_ns) % 97),
            limit_price=LIMIT_PRICE,
        )
        self._sent_ns[child_id] = 0
        return child_id, wire.new_order_envelope(child, 0).SerializeToString()

    async def _send(self, payloads: list[tuple[str, bytes]], rate: float) -> None:
        subject = subjects.orders(self._venue)
        per_tick = len(payloads) if rate <= 0 else max(1, round(rate * SEND_TICK_S))
        started = time.monotonic()
        for tick, start in enumerate(range(0, len(payloads), per_tick)):
            pause = started + tick * SEND_TICK_S - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)  # pacing the load, not waiting for a condition
            now_ns = time.time_ns()
            for child_id, payload in payloads[start : start + per_tick]:
                self._sent_ns[child_id] = now_ns
                await self._nc.publish(subject, payload, headers=inject_headers())
            await self._nc.flush()

    async def start(self) -> None:
        """Count the reports the venue publishes (a message may hold several)."""
        await self._nc.subscribe(subjects.EXEC_STREAM_SUBJECTS, cb=self._count_reports)

    async def _count_reports(self, msg: Msg) -> None:
        self._published += len(wire.reports_in_payload(msg.data))
        if self._published >= self.reports:
            self._all_published.set()

    async def _wait_for_reports(self) -> None:
        """Until the venue has published every report of the rounds sent so far."""
        if self._published >= self.reports:
            return
        self._all_published.clear()
        try:
            await asyncio.wait_for(self._all_published.wait(), ROUND_TIMEOUT_S)
        except TimeoutError:
            raise TimeoutError(f"{self._published} of {self.reports} reports published") from None

    async def _fill_latency(self, orders: int, first_sequence: int) -> LatencySummary:
        """Order sent -> its FILL stored on the stream."""
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=first_sequence,
            ack_policy=AckPolicy.NONE,
        )
        subscription = await self._js.pull_subscribe(
            subjects.EXEC_STREAM_SUBJECTS, stream=subjects.EXEC_STREAM, config=config
        )
        latencies = Latencies()
        seen = 0
        while seen < orders * REPORTS_PER_ORDER:
            for msg in await subscription.fetch(FETCH_BATCH, timeout=5):
                stored_ns = int(msg.metadata.timestamp.timestamp() * 1e9)
                for report in wire.reports_in_payload(msg.data):
                    seen += 1
                    if report.exec_type == v.EXEC_TYPE_TRADE:
                        latencies.record_ns(stored_ns - self._sent_ns[report.child_order_id])
        await subscription.unsubscribe()
        return latencies.summary()


if __name__ == "__main__":
    main()

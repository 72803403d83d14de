"""`sustained`: a fixed offered rate for a fixed time, then nothing may be missing.

After the load: every accepted order must be listed by ListOrders in a final state;
the fills the OMS stored (TRADE reports on the stream, cum_qty of the listed orders)
must equal the fills the venues made (read back from the VENUE_EXEC stream); and the
server's resident memory at the end is compared with the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from decimal import Decimal
from typing import Any

from clients.bench.config import STANDARD_SUSTAINED_RATE, SUSTAINED_SHARE_OF_CAPACITY
from clients.bench.orders import FINAL_STATES, OrderClient
from clients.bench.procstats import BYTES_PER_MIB, rss_bytes
from clients.bench.scenarios.context import RunContext, System
from clients.bench.scenarios.taking import TakingDriver, TakingRun
from clients.bench.stats import ratio
from clients.bench.venue_fills import venue_fills
from protos.oms.v1 import order_pb2

#: How often the server's memory is sampled during the run.
RSS_SAMPLE_S = 1.0


def sustained_rate(ctx: RunContext) -> tuple[float, str]:
    """The rate to sustain and where it comes from: ``--sustained-rate``, else 80% of the
    capacity this run found (issue 25's row), else the wave-one 1,000/s."""
    if ctx.load.sustained_rate is not None:
        return ctx.load.sustained_rate, "--sustained-rate"
    capacity = ctx.found_capacity_per_s
    if capacity:
        share = SUSTAINED_SHARE_OF_CAPACITY
        return round(capacity * share), f"{share:.0%} of the {capacity:,.0f}/s capacity found"
    return STANDARD_SUSTAINED_RATE, "no capacity found in this run"


async def run_sustained(ctx: RunContext) -> dict[str, Any]:
    """Open loop at ``sustained_rate`` for ``sustained_duration_s``; then the checks."""
    (rate, basis), duration_s = sustained_rate(ctx), ctx.load.sustained_duration_s
    baseline = await ctx.baseline_open(rate)
    account = ctx.account("SUSTAINED")
    async with (
        ctx.system("sustained", [account]) as system,
        TakingDriver(ctx, system, account) as driver,
    ):
        warmup_s = max(ctx.load.warmup_s, ctx.load.sustained_warmup_s)
        memory = RssSampler(system.target.server_pid, warmup_s)
        await driver.warm_up("sustained", rate, warmup_s)
        memory.start()
        label = f"sustained: {rate:g} orders/s for {duration_s:g} s"
        run = await driver.measure(label, rate, duration_s)
        await memory.stop()
        async with ctx.progress.phase("sustained: checking orders and fills"):
            checks = await check_run(system, driver.client, run, account)
    result = run.as_dict(rate, duration_s)
    result["rate_basis"] = basis
    echo = baseline.latency.summary()
    latency = run.tracker.latency.summary()
    result.update(checks=checks, memory=memory.as_dict(), baseline=baseline.as_dict())
    result.update(
        p50_ratio=ratio(latency.p50_ms, echo.p50_ms), p99_ratio=ratio(latency.p99_ms, echo.p99_ms)
    )
    return result


async def check_run(
    system: System, client: OrderClient, run: TakingRun, account: str
) -> dict[str, Any]:
    """Every accepted order listed and final; stored fills equal to the venues' fills."""
    listed = await list_all(client, account)
    checks = {**_order_checks(run, listed), **_fill_checks(run, listed)}
    if system.target.nats_url:
        venue = await venue_fills(system.target.nats_url, set(run.accepted.values()))
        checks.update(venue.as_dict_prefixed())
        checks["venue_equal"] = (
            venue.complete
            and venue.trades == checks["stream_trades"]
            and venue.quantity == Decimal(checks["stream_fill_qty"])
        )
    fills_equal = checks["cum_qty_mismatches"] == 0 and checks.get("venue_equal", True)
    checks["fills_equal"] = fills_equal
    # Refused submits (not_accepted) were never acknowledged: they count against the rate,
    # not as lost. Lost means an acknowledged order or a venue fill missing from the store.
    checks["nothing_lost"] = checks["all_final"] and fills_equal
    return checks


def _order_checks(run: TakingRun, listed: dict[str, order_pb2.Order]) -> dict[str, Any]:
    ids = list(run.accepted)
    missing = sum(1 for c in ids if c not in listed)
    not_final = sum(1 for c in ids if c in listed and listed[c].state not in FINAL_STATES)
    stream_not_final = sum(1 for c in ids if c not in run.tracker.finals)
    return {
        "sent": run.loop.sent,
        "accepted": len(ids),
        "not_accepted": run.loop.sent - len(ids),
        "missing_from_list": missing,
        "listed_not_final": not_final,
        "stream_not_final": stream_not_final,
        "all_final": missing == 0 and not_final == 0 and stream_not_final == 0,
    }


def _fill_checks(run: TakingRun, listed: dict[str, order_pb2.Order]) -> dict[str, Any]:
    ids, tracker = list(run.accepted), run.tracker
    stored = {c: _dec(listed[c].cum_qty) for c in ids if c in listed}
    streamed = {c: tracker.trade_qty.get(c, Decimal(0)) for c in ids}
    return {
        "store_fill_qty": str(sum(stored.values(), Decimal(0))),
        "stream_trades": sum(tracker.trade_counts.get(c, 0) for c in ids),
        "stream_fill_qty": str(sum(streamed.values(), Decimal(0))),
        "cum_qty_mismatches": sum(1 for c, qty in stored.items() if qty != streamed[c]),
    }


async def list_all(client: OrderClient, account: str) -> dict[str, order_pb2.Order]:
    """Every order of ``account`` by client order id, page by page."""
    orders: dict[str, order_pb2.Order] = {}
    token = ""
    while True:
        page = await client.list_orders(account, token)
        for order in page.orders:
            orders[order.client_order_id] = order
        token = page.next_page_token
        if not token:
            return orders


class RssSampler:
    """Samples a process's resident memory until stopped; first and last sample compared.

    Made before the warm-up, it also notes the memory then (``before_warmup_bytes``);
    ``start()`` comes after the warm-up, at the first compared sample.
    """

    def __init__(self, pid: int | None, after_warmup_s: float = 0.0) -> None:
        self._pid = pid
        self._after_warmup_s = after_warmup_s
        self._before_warmup = rss_bytes(pid) if pid is not None else None
        self.samples: list[tuple[float, int]] = []
        self._task: asyncio.Task[None] | None = None
        self._start = time.monotonic()

    def start(self) -> None:
        if self._pid is None:
            return
        self._start = time.monotonic()
        self._sample()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._sample()

    def as_dict(self) -> dict[str, Any]:
        if not self.samples:
            return {"start_bytes": None, "end_bytes": None, "growth": None, "samples_mib": []}
        start, end = self.samples[0][1], self.samples[-1][1]
        growth = ratio(end - start, start)
        return {
            "start_bytes": start,
            "end_bytes": end,
            "growth": growth,
            "after_warmup_s": self._after_warmup_s,
            "before_warmup_bytes": self._before_warmup,
            "samples_mib": [(round(t, 1), round(b / BYTES_PER_MIB, 1)) for t, b in self.samples],
        }

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(RSS_SAMPLE_S)
            self._sample()

    def _sample(self) -> None:
        assert self._pid is not None
        value = rss_bytes(self._pid)
        if value is not None:
            self.samples.append((time.monotonic() - self._start, value))


def _dec(text: str) -> Decimal:
    return Decimal(text) if text else Decimal(0)

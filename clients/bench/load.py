"""Load shapes: a closed loop of N clients, and an open loop at a fixed offered rate.

The closed loop measures throughput (each client sends its next call when the last one
answered). The open loop sends on a fixed schedule whatever happens to earlier calls,
and every latency is measured from the *scheduled* send time, so a server (or client)
that falls behind shows up as queueing instead of being hidden (coordinated omission).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from clients.bench.stats import Latencies
from clients.sdk.errors import OmsError

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000

#: One call of a closed loop: ``call(i)`` for the i-th call; raises AioRpcError (or the
#: SDK's OmsError) on failure.
ClosedCall = Callable[[int], Awaitable[object]]
#: One send of an open loop: ``send(i, scheduled_ns)``; it records its own outcome.
OpenSend = Callable[[int, int], Coroutine[Any, Any, None]]


@dataclass
class Meter:
    """Live counters a load loop updates and the progress bar reads."""

    done: int = 0
    errors: int = 0


@dataclass
class LoopResult:
    """What a load loop measured."""

    ok: int = 0
    elapsed_s: float = 0.0
    latency: Latencies = field(default_factory=Latencies)
    errors: Counter[str] = field(default_factory=Counter)
    #: Open loop only: the latest a send left after its scheduled time, in ms.
    max_send_lag_ms: float = 0.0
    sent: int = 0
    #: CPU seconds per wall second of the server and of this client, when measured.
    server_cpu_cores: float | None = None
    client_cpu_cores: float | None = None
    #: The server's threads going to sleep and being woken, per wall second, when measured.
    server_wakeups_per_s: float | None = None
    #: Open loop only: when the schedule was abandoned because the server fell behind.
    aborted_after_s: float | None = None
    #: The first error message seen per status code.
    error_samples: dict[str, str] = field(default_factory=dict)

    def record_error(self, exc: grpc.aio.AioRpcError | OmsError) -> None:
        if isinstance(exc, OmsError):
            code, details = exc.code.name, exc.message
        else:
            code, details = exc.code().name, str(exc.details())
        self.errors[code] += 1
        self.error_samples.setdefault(code, details[:300])

    @property
    def throughput(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "sent": self.sent,
            "elapsed_s": round(self.elapsed_s, 3),
            "throughput_per_s": round(self.throughput, 1),
            "latency": self.latency.summary().as_dict(),
            "errors": dict(self.errors),
            "max_send_lag_ms": round(self.max_send_lag_ms, 3),
            "server_cpu_cores": self.server_cpu_cores,
            "client_cpu_cores": self.client_cpu_cores,
            "server_wakeups_per_s": self.server_wakeups_per_s,
            "aborted_after_s": self.aborted_after_s,
            "error_samples": self.error_samples,
        }


def combined(parts: Sequence[LoopResult]) -> LoopResult:
    """One result for slices of the same load run at different times: counts, latencies
    and time add up; CPU cores and wake-ups are averaged over the slices' time."""
    total = LoopResult()
    server_cpu_s = client_cpu_s = server_wakeups = 0.0
    for part in parts:
        total.ok += part.ok
        total.sent += part.sent
        total.elapsed_s += part.elapsed_s
        total.latency.merge(part.latency)
        total.errors.update(part.errors)
        for code, sample in part.error_samples.items():
            total.error_samples.setdefault(code, sample)
        server_cpu_s += (part.server_cpu_cores or 0.0) * part.elapsed_s
        client_cpu_s += (part.client_cpu_cores or 0.0) * part.elapsed_s
        server_wakeups += (part.server_wakeups_per_s or 0.0) * part.elapsed_s
    if total.elapsed_s > 0 and all(p.server_cpu_cores is not None for p in parts):
        total.server_cpu_cores = round(server_cpu_s / total.elapsed_s, 3)
    if total.elapsed_s > 0 and all(p.client_cpu_cores is not None for p in parts):
        total.client_cpu_cores = round(client_cpu_s / total.elapsed_s, 3)
    if total.elapsed_s > 0 and all(p.server_wakeups_per_s is not None for p in parts):
        total.server_wakeups_per_s = round(server_wakeups / total.elapsed_s, 1)
    return total


async def closed_loop(
    call: ClosedCall, concurrency: int, duration_s: float, meter: Meter | None = None
) -> LoopResult:
    """``concurrency`` clients calling back to back for ``duration_s``."""
    meter = meter or Meter()
    result = LoopResult()
    numbers = itertools.count()
    start = time.perf_counter_ns()
    deadline = start + int(duration_s * NS_PER_S)

    async def client() -> None:
        while time.perf_counter_ns() < deadline:
            await _timed_call(call, next(numbers), time.perf_counter_ns(), result, meter)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.sent = next(numbers)
    result.elapsed_s = (time.perf_counter_ns() - start) / NS_PER_S
    return result


async def open_loop(
    send: OpenSend,
    rate_per_s: float,
    duration_s: float,
    result: LoopResult | None = None,
    give_up: Callable[[int], bool] | None = None,
) -> LoopResult:
    """Call ``send(i, scheduled_ns)`` at ``rate_per_s`` for ``duration_s``; await them all.

    ``send`` records latency and errors itself (into ``result``, or elsewhere); this loop
    keeps the schedule and notes how many it sent, for how long and how late they left.
    ``give_up(sent)`` is asked before each send: True ends the schedule early (a server
    that fell hopelessly behind), noted in ``aborted_after_s``.
    """
    result = result if result is not None else LoopResult()
    period_ns = NS_PER_S / rate_per_s
    total = int(rate_per_s * duration_s)
    tasks: set[asyncio.Task[None]] = set()
    start = time.perf_counter_ns()
    max_lag = 0
    for i in range(total):
        if give_up is not None and give_up(i):
            result.aborted_after_s = (time.perf_counter_ns() - start) / NS_PER_S
            total = i
            break
        due = start + int(i * period_ns)
        now = time.perf_counter_ns()
        if due > now:
            await asyncio.sleep((due - now) / NS_PER_S)
            now = time.perf_counter_ns()
        max_lag = max(max_lag, now - due)
        task = asyncio.create_task(send(i, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    result.sent = total
    result.elapsed_s = (time.perf_counter_ns() - start) / NS_PER_S
    result.max_send_lag_ms = max_lag / NS_PER_MS
    return result


def timed_open_call(call: ClosedCall, result: LoopResult, meter: Meter) -> OpenSend:
    """An open-loop send that awaits ``call(i)`` and records its latency from the schedule."""

    async def send(i: int, scheduled_ns: int) -> None:
        await _timed_call(call, i, scheduled_ns, result, meter)

    return send


async def _timed_call(
    call: ClosedCall, i: int, since_ns: int, result: LoopResult, meter: Meter
) -> None:
    """Make call ``i`` and record its latency from ``since_ns`` (send or scheduled time)."""
    try:
        await call(i)
    except (grpc.aio.AioRpcError, OmsError) as exc:
        result.record_error(exc)
        meter.errors += 1
        return
    result.latency.record_ns(time.perf_counter_ns() - since_ns)
    result.ok += 1
    meter.done += 1

"""What every scenario shares: the config, the progress bar, systems to run against, baselines."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from clients.bench.config import BenchConfig
from clients.bench.load import (
    ClosedCall,
    LoopResult,
    Meter,
    closed_loop,
    combined,
    open_loop,
    timed_open_call,
)
from clients.bench.orders import OrderClient
from clients.bench.procstats import CpuMeter
from clients.bench.progress import RunProgress
from clients.bench.setup import prepare_accounts, wait_for_market
from clients.bench.system import StackRun, Target, bench_scenario_path, started_echo, started_stack
from oms_server.api.auth import issue_token
from oms_server.domain.access import Role

#: The echo ignores tokens; it is sent one of the same size as the OMS gets.
ECHO_SECRET = "oms-bench-echo-ignores-tokens-0123456789"
#: Interleaved comparisons cut each side's time into slices of about this many seconds...
INTERLEAVED_SLICE_S = 2.0
#: ...and at most this many of them.
INTERLEAVED_SLICES_MAX = 5


@dataclass(frozen=True, slots=True)
class ClosedSide:
    """One server of an interleaved closed-loop comparison, and the call that loads it."""

    label: str
    call: ClosedCall
    server_pid: int | None
    #: Callers looping at once on this side (None: the comparison's concurrency).
    concurrency: int | None = None


@dataclass(frozen=True, slots=True)
class System:
    """A system under test: how to reach it and, if this run started it, the stack."""

    target: Target
    stack: StackRun | None


class RunContext:
    """Shared state of one run; scenarios take what they need from it."""

    def __init__(self, config: BenchConfig, progress: RunProgress, workdir: Path) -> None:
        self.config = config
        self.load = config.load
        self.shape = config.shape
        self.progress = progress
        self.workdir = workdir
        self.run_id = secrets.token_hex(3).upper()
        self.stacks: list[dict[str, object]] = []
        #: Per scenario: venues the OMS quoted the symbol from when the load started.
        self.venues_quoted: dict[str, int] = {}
        #: The e2e capacity `capacity` found in this run (None: not run, or none passed).
        self.found_capacity_per_s: float | None = None
        self._baselines: dict[tuple[str, float], LoopResult] = {}

    def account(self, name: str) -> str:
        """An account id unique to this run."""
        return f"BENCH-{self.run_id}-{name}"

    @contextlib.asynccontextmanager
    async def system(self, label: str, accounts: Sequence[str]) -> AsyncIterator[System]:
        """The given ``--target``, or a fresh stack for this scenario (stopped after)."""
        external = self.config.external
        if external is not None:
            target = Target(
                external.address, external.token, external.nats_url, external.server_pid
            )
            async with self.progress.phase(f"{label}: prepare accounts"):
                await self._prepare(label, target, accounts)
            yield System(target, None)
            return
        scenario = self.config.scenario_file or bench_scenario_path()
        async with contextlib.AsyncExitStack() as exits:
            how = "oms server + venues" if self.config.venues_apart else "oms up"
            async with self.progress.phase(f"{label}: start {how}, prepare accounts"):
                stack = await exits.enter_async_context(
                    started_stack(
                        scenario,
                        accounts,
                        self.workdir / label,
                        venues_apart=self.config.venues_apart,
                    )
                )
                await self._prepare(label, stack.target, accounts)
            try:
                yield System(stack.target, stack)
            finally:
                async with self.progress.phase(f"{label}: stop {how} (SIGTERM)"):
                    await exits.aclose()
                self.stacks.append({"scenario": label, **stack.as_dict()})

    async def _prepare(self, label: str, target: Target, accounts: Sequence[str]) -> None:
        await prepare_accounts(target.address, target.admin_metadata, accounts)
        venues = await wait_for_market(target.address, target.metadata, self.shape.symbol)
        self.venues_quoted[label] = venues

    async def baseline_closed(self, concurrency: int) -> LoopResult:
        """Echo throughput and latency with ``concurrency`` clients (measured once per run)."""
        key = ("closed", float(concurrency))
        if key not in self._baselines:
            self._baselines[key] = await self._echo(key)
        return self._baselines[key]

    async def baseline_open(self, rate: float) -> LoopResult:
        """Echo latency at ``rate`` calls per second, open loop (measured once per run)."""
        key = ("open", rate)
        if key not in self._baselines:
            self._baselines[key] = await self._echo(key)
        return self._baselines[key]

    def baselines(self) -> dict[str, object]:
        return {f"{kind}@{value:g}": r.as_dict() for (kind, value), r in self._baselines.items()}

    @contextlib.asynccontextmanager
    async def echo(self) -> AsyncIterator[tuple[OrderClient, int]]:
        """A started echo server: a client for it (the OMS's client code) and its pid."""
        token = issue_token(ECHO_SECRET, "oms-bench", Role.TRADER, [self.account("ECHO")])
        async with started_echo(self.workdir / "echo") as echo:
            client = OrderClient(echo.address, (("authorization", f"Bearer {token}"),))
            try:
                yield client, echo.pid
            finally:
                await client.close()

    async def _echo(self, key: tuple[str, float]) -> LoopResult:
        kind, value = key
        label = f"baseline: echo {kind} loop @ {value:g}{'/s' if kind == 'open' else ' clients'}"
        async with self.echo() as (client, pid):
            if kind == "closed":
                call = self.resting_call(client, self.account("ECHO"), f"{kind}-")
                (result,) = await self.run_closed_sliced(
                    label, [ClosedSide(label, call, pid)], int(value)
                )
                return result
            take = self.taking_call(client, self.account("ECHO"), f"{kind}-")
            return await self.run_open(label, take, value, pid)

    async def run_closed_sliced(
        self, label: str, sides: Sequence[ClosedSide], concurrency: int
    ) -> list[LoopResult]:
        """Warm up, then closed loops against each side in turn: slices A B A B ..., with
        CPU use, summed per side.

        Each side gets ``load.duration_s`` in all, cut into slices of about two seconds.
        With several sides, all their servers run all along, so a shared machine that
        slows down or speeds up during the run moves every side alike and the ratio
        between them stays fair.
        """
        for side in sides:
            async with self.progress.phase(f"{side.label} (warm-up)", self.load.warmup_s):
                callers = side.concurrency or concurrency
                await closed_loop(_warm(side.call), callers, self.load.warmup_s)
        slices = interleaved_slices(self.load.duration_s)
        slice_s = self.load.duration_s / slices
        parts: list[list[LoopResult]] = [[] for _ in sides]
        meter = Meter()
        async with self.progress.phase(label, self.load.duration_s * len(sides), meter):
            for _ in range(slices):
                for side, done in zip(sides, parts, strict=True):
                    first = sum(part.sent for part in done)
                    call = _numbered_from(side.call, first)
                    cpu = CpuMeter(side.server_pid)
                    cpu.start()
                    callers = side.concurrency or concurrency
                    part = await closed_loop(call, callers, slice_s, meter)
                    cpu.stop_into(part)
                    done.append(part)
        return [combined(done) for done in parts]

    async def run_open(
        self, label: str, call: ClosedCall, rate: float, server_pid: int | None
    ) -> LoopResult:
        """Warm up, then a measured open loop at ``rate`` for ``load.duration_s``."""
        async with self.progress.phase(f"{label} (warm-up)", self.load.warmup_s):
            await open_loop(
                timed_open_call(_warm(call), LoopResult(), Meter()), rate, self.load.warmup_s
            )
        meter = Meter()
        result = LoopResult()
        cpu = CpuMeter(server_pid)
        async with self.progress.phase(label, self.load.duration_s, meter):
            cpu.start()
            send = timed_open_call(call, result, meter)
            await open_loop(send, rate, self.load.duration_s, result)
            cpu.stop_into(result)
        return result

    def resting_call(self, client: OrderClient, account: str, prefix: str) -> ClosedCall:
        """``call(i)``: submit the i-th resting buy (client order id ``<prefix><i>``)."""

        async def call(i: int) -> object:
            return await client.submit(self.shape.resting_buy(account, f"{prefix}{i}", i))

        return call

    def taking_call(self, client: OrderClient, account: str, prefix: str) -> ClosedCall:
        """``call(i)``: submit the i-th taking (split, IOC) buy."""

        async def call(i: int) -> object:
            return await client.submit(self.shape.taking_buy(account, f"{prefix}{i}"))

        return call


def interleaved_slices(duration_s: float) -> int:
    """Slices per side of an interleaved run: about two seconds each, at most five."""
    return max(1, min(INTERLEAVED_SLICES_MAX, round(duration_s / INTERLEAVED_SLICE_S)))


def _numbered_from(call: ClosedCall, first: int) -> ClosedCall:
    """The same call numbered from ``first``: a later slice never reuses an order id."""

    async def numbered(i: int) -> object:
        return await call(first + i)

    return numbered


def _warm(call: ClosedCall) -> ClosedCall:
    """The same call with warm-up client order ids (negative numbers never collide)."""

    async def warm(i: int) -> object:
        return await call(-1 - i)

    return warm

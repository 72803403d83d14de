"""`fix`: NewOrderSingle → first ExecutionReport through the FIX 4.4 gateway.

The stack of `submit` (resting buys far below the market, so the first report is New)
with the gateway as `oms fix` beside it, a client of its gRPC API as deployed, and a bare
QuickFIX acceptor (``clients.bench.fix_echo``) in a process of its own. One client
(``clients.bench.fix_client``) drives both:

* closed loop: ``FIX_SESSIONS`` sessions, each with ``--stream-window`` orders in flight,
  against the gateway and against the echo, and as many unary SubmitOrder callers on the
  same stack (what the OMS itself answers), in alternating slices: the round trips per
  second of each, and their ratios. Each session logs on with a token of an account of
  its own and trades it: a session is sent every report of its token's accounts, so
  sessions sharing accounts would each get the others' reports too (against a
  ``--target`` its one token is all there is, and they do);
* open loop at ``FIX_OPEN_RATE`` orders/s: NewOrderSingle → ExecutionReport New through
  the gateway, and SubmitOrder → its response on the same stack, in alternating slices:
  what the gateway adds to the gRPC path at p50.

``--profile DIR`` records the gateway (`oms fix`) with py-spy during the closed loop.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from clients.bench.fix_client import FixSessionClient, LimitOrder, fix_sessions, least_busy
from clients.bench.fix_echo import READY_LINE as FIX_ECHO_READY
from clients.bench.load import ClosedCall, LoopResult, Meter, combined, open_loop, timed_open_call
from clients.bench.orders import OrderShape
from clients.bench.procs import BenchError, ManagedProcess, child_env, python_argv
from clients.bench.procstats import CpuMeter
from clients.bench.profiling import profiled
from clients.bench.scenarios.context import ClosedSide, RunContext, System, interleaved_slices
from clients.bench.scenarios.streamed import unary_client
from clients.bench.stats import ratio
from clients.bench.system import TOKEN_SUBJECT, Target
from oms_server.api.auth import issue_token
from oms_server.domain.access import Role
from protos.oms.v1 import common_pb2

#: Sessions the closed loop spreads its orders over (each a SenderCompID of its own).
FIX_SESSIONS: Final = 8
#: The open-loop rate of the gateway-vs-gRPC latency comparison, orders per second.
FIX_OPEN_RATE: Final = 200.0
#: What `oms fix` prints once it listens.
GATEWAY_READY: Final = "FIX gateway ready on "
READY_TIMEOUT_S: Final = 60.0
LOOPBACK: Final = "127.0.0.1"
_OMS_MAIN: Final = "import sys; from oms_server.cli import main; sys.exit(main())"
_ECHO_MAIN: Final = "import sys; from clients.bench.fix_echo import main; sys.exit(main())"
_FIX_SIDE = {common_pb2.SIDE_BUY: "1", common_pb2.SIDE_SELL: "2"}


@dataclass
class FixServer:
    """A FIX acceptor this run started: its port, its pid, its exit code once stopped."""

    name: str
    port: int
    pid: int
    exit_code: int | None = None


async def run_fix(ctx: RunContext) -> dict[str, Any]:
    """Round trips through the gateway beside the bare echo, then the gateway's p50 beside
    SubmitOrder's at ``FIX_OPEN_RATE``."""
    accounts = [ctx.account(f"FIX{n}") for n in range(FIX_SESSIONS)]
    grpc_account = ctx.account("FIXGRPC")
    window = ctx.load.stream_window
    callers = FIX_SESSIONS * window
    senders = [f"BENCH{ctx.run_id}G{n}" for n in range(FIX_SESSIONS)]
    echo_senders = [f"BENCH{ctx.run_id}E{n}" for n in range(FIX_SESSIONS)]
    servers: list[FixServer] = []
    async with ctx.system("fix", [*accounts, grpc_account]) as system:
        target = system.target
        tokens = session_tokens(system, accounts)
        async with (
            started_gateway(target, ctx.workdir / "fix-gateway") as gateway,
            started_fix_echo(ctx.workdir / "fix-echo", echo_senders) as echo,
            fix_sessions(LOOPBACK, gateway.port, senders, tokens) as sessions,
            # the echo reads no password: it is sent ones of the same size
            fix_sessions(LOOPBACK, echo.port, echo_senders, _blanked(tokens)) as echoed,
            unary_client(target) as unary,
        ):
            servers = [gateway, echo]
            sides = [
                ClosedSide(
                    "FIX gateway", fix_call(sessions, accounts, ctx.shape, "f"), gateway.pid
                ),
                ClosedSide("FIX echo", fix_call(echoed, accounts, ctx.shape, "e"), echo.pid),
                ClosedSide(
                    "gRPC submit", ctx.resting_call(unary, grpc_account, "s"), target.server_pid
                ),
            ]
            label = f"FIX gateway, echo, gRPC: {FIX_SESSIONS} sessions x {window}, interleaved"
            profile_s = len(sides) * (ctx.load.duration_s + ctx.load.warmup_s)
            profile_dir = ctx.config.profile_dir
            async with profiled(gateway.pid, profile_dir, "fix-gateway", profile_s) as prof:
                through, bare, submit = await ctx.run_closed_sliced(label, sides, callers)
            open_sides = [
                ClosedSide("FIX", fix_call(sessions, accounts, ctx.shape, "o"), gateway.pid),
                ClosedSide("gRPC", ctx.resting_call(unary, grpc_account, "g"), target.server_pid),
            ]
            label = f"FIX and gRPC submits at {FIX_OPEN_RATE:g}/s, interleaved"
            via_fix, via_grpc = await run_open_sliced(ctx, label, open_sides, FIX_OPEN_RATE)
    return {
        "sessions": FIX_SESSIONS,
        "window": window,
        "result": through.as_dict(),
        "baseline": bare.as_dict(),
        "throughput_ratio": ratio(through.throughput, bare.throughput),
        "unary": submit.as_dict(),
        "unary_ratio": ratio(through.throughput, submit.throughput),
        "interleaved_slices": interleaved_slices(ctx.load.duration_s),
        "rate_per_s": FIX_OPEN_RATE,
        "open_fix": via_fix.as_dict(),
        "open_grpc": via_grpc.as_dict(),
        "p50_added_ms": round(via_fix.latency.summary().p50_ms - _p50(via_grpc), 3),
        "exit_codes": {server.name: server.exit_code for server in servers},
        "profile": prof[0].as_dict() if prof else None,
    }


def session_tokens(system: System, accounts: Sequence[str]) -> list[str]:
    """A trader token per account (per session), or the target's one token for all when
    this run did not start the stack (its secret is unknown)."""
    stack = system.stack
    if stack is None or not stack.secret:
        return [system.target.token] * len(accounts)
    return [issue_token(stack.secret, TOKEN_SUBJECT, Role.TRADER, [a]) for a in accounts]


def _blanked(tokens: Sequence[str]) -> list[str]:
    return ["x" * len(token) for token in tokens]


def fix_call(
    sessions: Sequence[FixSessionClient],
    accounts: Sequence[str],
    shape: OrderShape,
    prefix: str,
) -> ClosedCall:
    """``call(i)``: the i-th resting buy (ClOrdID ``<prefix><i>``) on the least busy
    session, for that session's account (the n-th session trades ``accounts[n]``)."""

    async def call(i: int) -> object:
        n, session = least_busy(sessions)
        request = shape.resting_buy(accounts[n], f"{prefix}{i}", i)
        order = LimitOrder(
            cl_ord_id=request.client_order_id,
            account=request.account_id,
            symbol=request.symbol,
            side=_FIX_SIDE[request.side],
            quantity=request.quantity,
            price=request.limit_price,
        )
        return await session.new_order(order)

    return call


async def run_open_sliced(
    ctx: RunContext, label: str, sides: Sequence[ClosedSide], rate: float
) -> list[LoopResult]:
    """Warm up each side, then open loops at ``rate`` against each in turn (A B A B ...),
    ``load.duration_s`` each in all, latencies from the scheduled send times."""
    for side in sides:
        async with ctx.progress.phase(f"{side.label} at {rate:g}/s (warm-up)", ctx.load.warmup_s):
            warm = LoopResult()
            await open_loop(
                timed_open_call(_numbered(side.call, -1_000_000), warm, Meter()),
                rate,
                ctx.load.warmup_s,
            )
    slices = interleaved_slices(ctx.load.duration_s)
    slice_s = ctx.load.duration_s / slices
    parts: list[list[LoopResult]] = [[] for _ in sides]
    meter = Meter()
    async with ctx.progress.phase(label, ctx.load.duration_s * len(sides), meter):
        for _ in range(slices):
            for side, done in zip(sides, parts, strict=True):
                part = LoopResult()
                first = sum(p.sent for p in done)
                cpu = CpuMeter(side.server_pid)
                cpu.start()
                send = timed_open_call(_numbered(side.call, first), part, meter)
                await open_loop(send, rate, slice_s, part)
                cpu.stop_into(part)
                done.append(part)
    return [combined(done) for done in parts]


@contextlib.asynccontextmanager
async def started_gateway(target: Target, workdir: Path) -> AsyncIterator[FixServer]:
    """`oms fix` on a free loopback port against the OMS at ``target``, its FIX state in
    ``workdir``; stopped (SIGTERM) after."""
    env = child_env(
        {
            "OMS_FIX_ADDR": f"{LOOPBACK}:0",
            "OMS_TARGET": target.address,
            "OMS_STATE_DIR": str(workdir / "state"),
        }
    )
    process = await ManagedProcess.spawn(
        "oms fix", python_argv(_OMS_MAIN, "fix"), log_path=workdir / "fix.log", env=env
    )
    server: FixServer | None = None
    try:
        lines = await process.wait_for_line(GATEWAY_READY, READY_TIMEOUT_S)
        server = FixServer("oms fix", _ready_port(lines, GATEWAY_READY), process.pid)
        yield server
    finally:
        code = await process.stop()
        if server is not None:
            server.exit_code = code


@contextlib.asynccontextmanager
async def started_fix_echo(workdir: Path, senders: Sequence[str]) -> AsyncIterator[FixServer]:
    """The bare QuickFIX echo on a free loopback port, accepting ``senders``."""
    port = _free_port()
    argv = python_argv(_ECHO_MAIN, "--port", str(port), "--senders", ",".join(senders))
    process = await ManagedProcess.spawn(
        "fix echo", argv, log_path=workdir / "fix-echo.log", env=child_env({})
    )
    server: FixServer | None = None
    try:
        await process.wait_for_line(FIX_ECHO_READY, READY_TIMEOUT_S)
        server = FixServer("fix echo", port, process.pid)
        yield server
    finally:
        code = await process.stop()
        if server is not None:
            server.exit_code = code


def _ready_port(lines: Sequence[str], prefix: str) -> int:
    """The port in ``prefix`` HOST:PORT ... of the ready line."""
    for line in lines:
        if line.startswith(prefix):
            address = line[len(prefix) :].split()[0]
            return int(address.rpartition(":")[2])
    raise BenchError(f"no address in the ready line {prefix!r}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _numbered(call: ClosedCall, first: int) -> ClosedCall:
    """``call`` numbered from ``first`` (each slice's orders get new ids)."""

    async def numbered(i: int) -> object:
        return await call(first + i)

    return numbered


def _p50(result: LoopResult) -> float:
    return result.latency.summary().p50_ms

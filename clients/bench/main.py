"""`oms-bench`: load generator and benchmark of the OMS (issue #7).

    oms-bench all                    # every scenario with the issue's parameters (< 10 min)
    oms-bench submit --quick         # one scenario, short
    oms-bench stream-submit --quick  # submits over OrderEntry streams vs the unary echo
    oms-bench fix --quick            # NewOrderSingle round trips vs a bare QuickFIX echo
    oms-bench capacity               # highest e2e rate with p99 < 100 ms, beside NautilusTrader
    oms-bench e2e --venues-inline    # venues inside the OMS process (`oms up`)
    oms-bench e2e --profile prof/    # plus a py-spy profile of the server
    oms-bench e2e --target 127.0.0.1:50051 --token $ADMIN_TOKEN --nats-url nats://...
    oms-bench sustained --shards 1,2 # the rate 1 and 2 shards sustain, CPU per order

Unless ``--target`` is given, each scenario starts its own stack (temp state dir and
SQLite file, free port, fresh secret, the bundled bench scenario): a nats-server, one
`oms venue` process hosting the simulated venues and `oms server`, as a deployment runs
them (the venues stand in for exchanges, whose CPU is not the OMS's), and stops it with
SIGTERM afterwards. ``--venues-inline`` runs `oms up` instead, everything in one process.
Every figure is printed beside a same-run baseline (a trivial grpc.aio echo driven by
the same client code) and written to JSON. The exit
status is 0 when every scenario ran and every started process stopped cleanly, whether
or not the targets were met (the benchmark is not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
from rich.console import Console

from clients.bench import aio
from clients.bench.config import SCENARIOS, BenchConfig, ExternalTarget, LoadParams
from clients.bench.orders import OrderShape
from clients.bench.procs import BenchError
from clients.bench.progress import RunProgress
from clients.bench.scenarios.capacity import run_capacity
from clients.bench.scenarios.closed import run_baseline, run_submit
from clients.bench.scenarios.context import RunContext
from clients.bench.scenarios.e2e import run_e2e
from clients.bench.scenarios.fanout import run_fanout
from clients.bench.scenarios.fix import run_fix
from clients.bench.scenarios.shards import run_shards
from clients.bench.scenarios.streamed import run_stream_submit
from clients.bench.scenarios.sustained import run_sustained
from clients.bench.table import ERROR, render, rows_for

#: Where results go unless --out says otherwise.
DEFAULT_RESULTS_DIR = Path("bench-results")
#: Width of the table when stdout is not a terminal.
FILE_CONSOLE_WIDTH = 200
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

Scenario = Callable[[RunContext], Awaitable[dict[str, Any]]]
RUNNERS: dict[str, Scenario] = {
    "baseline": run_baseline,
    "submit": run_submit,
    "stream-submit": run_stream_submit,
    "fix": run_fix,
    "e2e": run_e2e,
    "capacity": run_capacity,
    "sustained": run_sustained,
    "fanout": run_fanout,
    #: `sustained --shards`: not part of "all".
    "shards": run_shards,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen scenarios, print the table, write the JSON; 0 when all ran cleanly."""
    args = _parser().parse_args(argv)
    config = config_from(args)
    out = Path(args.out) if args.out else _default_out()
    try:
        report = aio.run(run_bench(config, progress=not args.no_progress, workdir=args.workdir))
    except KeyboardInterrupt:
        print("oms-bench: interrupted; every started process was stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    except asyncio.CancelledError:
        print("oms-bench: terminated; every started process was stopped", file=sys.stderr)
        return EXIT_TERMINATED
    except BenchError as exc:
        print(exc, file=sys.stderr)
        return 1
    _print_table(report, config)
    write_json(report, out)
    print(f"results written to {out}")
    return 0 if report["ok"] else 1


async def run_bench(
    config: BenchConfig, *, progress: bool = True, workdir: str | Path | None = None
) -> dict[str, Any]:
    """Run ``config.scenarios`` in order; the whole report as a JSON-ready dict."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    started = _now()
    load_before = _loadavg()
    results: dict[str, dict[str, Any]] = {}
    with _run_dir(workdir) as root, RunProgress(progress) as bar:
        ctx = RunContext(config, bar, root)
        for name in config.scenarios:
            results[name] = await _run_one(ctx, name)
    rows = rows_for(results)
    bad_exits = [s for s in ctx.stacks if not s.get("clean")]
    return {
        "started_at": started,
        "finished_at": _now(),
        "host": {**_host(), "loadavg_before": load_before, "loadavg_after": _loadavg()},
        "config": config.as_dict(),
        "run_id": ctx.run_id,
        "results": results,
        "baselines": ctx.baselines(),
        "stacks": ctx.stacks,
        "venues_quoted": ctx.venues_quoted,
        "targets": [row.as_dict() for row in rows],
        "ok": not bad_exits and all(row.status != ERROR for row in rows),
    }


async def _run_one(ctx: RunContext, name: str) -> dict[str, Any]:
    try:
        return await RUNNERS[name](ctx)
    except grpc.aio.AioRpcError as exc:
        return {"error": f"{exc.code().name}: {exc.details()}"}
    except (BenchError, OSError, TimeoutError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def config_from(args: argparse.Namespace) -> BenchConfig:
    """The run's configuration from parsed command-line arguments."""
    load = (LoadParams.quick() if args.quick else LoadParams()).with_overrides(**vars(args))
    shape = OrderShape(
        symbol=args.symbol,
        take_price=args.take_price,
        take_qty=args.take_qty,
        rest_price=args.rest_price,
        tick=args.tick,
    )
    external = None
    if args.target:
        if not args.token:
            raise SystemExit("oms-bench: --target needs --token (an admin token)")
        external = ExternalTarget(args.target, args.token, args.nats_url, args.server_pid)
    scenarios = SCENARIOS if args.scenario == "all" else (args.scenario,)
    shards = _shard_counts(args.shards) if args.shards else ()
    if shards:
        if scenarios != ("sustained",) or external is not None:
            raise SystemExit("oms-bench: --shards goes with `sustained` on stacks it starts")
        scenarios = ("shards",)
    return BenchConfig(
        scenarios=tuple(scenarios),
        load=load,
        shape=shape,
        scenario_file=Path(args.scenario_file) if args.scenario_file else None,
        external=external,
        profile_dir=Path(args.profile) if args.profile else None,
        quick=args.quick,
        venues_apart=args.venues_apart,
        shards=shards,
    )


def _shard_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise SystemExit(f"oms-bench: --shards takes counts such as 1,2, not {text!r}") from None
    if any(n < 1 for n in counts):
        raise SystemExit(f"oms-bench: shard counts must be at least 1, not {text!r}")
    return counts


def write_json(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oms-bench",
        description="Benchmark the OMS against a same-run gRPC echo baseline.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("scenario", nargs="?", default="all", choices=[*SCENARIOS, "all"])
    parser.add_argument("--quick", action="store_true", help="short phases (about a minute)")
    load = parser.add_argument_group("load (defaults: the issue's parameters; --quick shortens)")
    load.add_argument("-c", "--concurrency", type=int, help="closed-loop clients (50)")
    load.add_argument("--duration", dest="duration_s", type=float, help="closed-loop phase s (10)")
    load.add_argument("--warmup", dest="warmup_s", type=float, help="warm-up s per phase (1)")
    load.add_argument("--rate", dest="e2e_rate", type=float, help="e2e orders/s (500)")
    load.add_argument("--e2e-duration", dest="e2e_duration_s", type=float, help="e2e s (20)")
    load.add_argument(
        "--light-rate", dest="e2e_light_rate", type=float, help="e2e's light rate, 0: none (100)"
    )
    load.add_argument(
        "--sustained-rate",
        type=float,
        help="sustained orders/s (80%% of the capacity found in the run, else 1000)",
    )
    load.add_argument(
        "--sustained-duration", dest="sustained_duration_s", type=float, help="sustained s (60)"
    )
    load.add_argument(
        "--sustained-warmup",
        dest="sustained_warmup_s",
        type=float,
        help="sustained warm-up s before the first memory sample (5)",
    )
    search = "capacity and --shards rate search"
    load.add_argument(
        "--start-rate", dest="capacity_start_rate", type=float, help=f"{search}: first rate (100)"
    )
    load.add_argument(
        "--rate-growth", dest="capacity_growth", type=float, help=f"{search}: step factor (1.3)"
    )
    load.add_argument(
        "--step-duration", dest="capacity_step_s", type=float, help=f"{search}: step s (4)"
    )
    load.add_argument(
        "--max-steps", dest="capacity_max_steps", type=int, help=f"{search}: steps at most (9)"
    )
    load.add_argument(
        "--peer-orders",
        type=int,
        help="capacity: market orders NautilusTrader is measured over (5000; needs .[peer])",
    )
    load.add_argument("-m", "--subscribers", type=int, help="fanout subscribers (50)")
    load.add_argument(
        "--stream-window", type=int, help="stream-submit: submits in flight per stream (4)"
    )
    load.add_argument("--settle-timeout", dest="settle_timeout_s", type=float, help="s (60)")
    load.add_argument(
        "--max-backlog",
        dest="max_backlog_s",
        type=float,
        help="open loops give up when this many seconds of orders are not final (5)",
    )
    _system_args(parser)
    _order_args(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--out", help="JSON file (default: bench-results/<timestamp>.json)")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    out.add_argument(
        "--profile", metavar="DIR", help="py-spy the server during submit, e2e and fanout"
    )
    out.add_argument("--workdir", help="keep logs and databases here (default: a temp dir)")
    return parser


def _system_args(parser: argparse.ArgumentParser) -> None:
    system = parser.add_argument_group("system under test (default: start a stack per scenario)")
    system.add_argument("--target", metavar="HOST:PORT", help="a running OMS instead")
    system.add_argument("--token", help="bearer token for --target (admin: any account)")
    system.add_argument("--nats-url", help="the target's NATS, to count fills at the venues")
    system.add_argument("--server-pid", type=int, help="the target's pid, for memory and CPU")
    system.add_argument("--scenario-file", help="scenario for started stacks (bench default)")
    system.add_argument(
        "--venues-inline",
        dest="venues_apart",
        action="store_false",
        help="start `oms up` (venues in the OMS process) instead of nats-server, one "
        "`oms venue` hosting every venue and `oms server` (the default)",
    )
    system.add_argument(
        "--shards",
        metavar="N[,N...]",
        help="with sustained: for each count, a stack of N `oms shard` behind `oms front`, "
        "and the highest rate at which every order is final and p99 < 100 ms",
    )


def _order_args(parser: argparse.ArgumentParser) -> None:
    defaults = OrderShape()
    orders = parser.add_argument_group("orders (defaults fit the bundled bench scenario)")
    orders.add_argument("--symbol", default=defaults.symbol)
    orders.add_argument("--take-price", default=defaults.take_price, help="IOC limit of e2e buys")
    orders.add_argument("--take-qty", default=defaults.take_qty, help="quantity of e2e buys")
    orders.add_argument("--rest-price", default=defaults.rest_price, help="resting buys' top")
    orders.add_argument("--tick", default=defaults.tick, help="the symbol's tick size")


def _print_table(report: dict[str, Any], config: BenchConfig) -> None:
    console = Console() if sys.stdout.isatty() else Console(width=FILE_CONSOLE_WIDTH)
    render(rows_for(report["results"]), console, standard=config.load.is_standard())
    for stack in report["stacks"]:
        if not stack.get("clean"):
            codes = f"{stack['exit_code']} (venues: {stack['helper_exit_codes']})"
            console.print(f"[red]the {stack['scenario']} stack did not stop cleanly: {codes}[/]")


@contextlib.contextmanager
def _run_dir(given: str | Path | None) -> Iterator[Path]:
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="oms-bench-") as tmp:
        yield Path(tmp)


def _default_out() -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return DEFAULT_RESULTS_DIR / f"{stamp}.json"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _host() -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
    }

"""`oms`: run the stack, the OMS server alone, a venue alone, or issue a token."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence

from oms_server.api.auth import DEFAULT_TOKEN_TTL_S, issue_token
from oms_server.app import OmsApp, resolve_auth_secret
from oms_server.config import Settings
from oms_server.domain.access import Role
from oms_server.observability import configure_logging, configure_tracing

log = logging.getLogger("oms")

READY_LINE = "OMS ready"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        configure_tracing()
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        log.debug("command failed", exc_info=True)
        print(f"oms: error: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oms", description="Order-management system")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    sub = parser.add_subparsers(dest="command")
    up = sub.add_parser("up", help="run NATS, the OMS and the scenario's venues")
    up.add_argument("--scenario", help="scenario TOML file (default: OMS_SCENARIO or bundled)")
    up.set_defaults(handler=_cmd_up)
    server = sub.add_parser("server", help="run the OMS gRPC server alone")
    server.add_argument("--scenario", help="scenario TOML file for the instruments")
    server.set_defaults(handler=_cmd_server)
    venue = sub.add_parser("venue", help="run one venue simulator against NATS_URL")
    venue.add_argument("--scenario", help="scenario TOML file (default: bundled)")
    venue.add_argument("--name", required=True, help="the venue's name in the scenario")
    venue.set_defaults(handler=_cmd_venue)
    token = sub.add_parser("token", help="print a bearer token")
    token.add_argument("--role", choices=[r.value for r in Role], default="trader")
    token.add_argument("--account", action="append", default=[], dest="accounts")
    token.add_argument("--subject", default="")
    token.add_argument("--ttl-s", type=int, default=DEFAULT_TOKEN_TTL_S)
    token.set_defaults(handler=_cmd_token)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    scenario = getattr(args, "scenario", None)
    if scenario:
        from dataclasses import replace

        settings = replace(settings, scenario_path=scenario)
    return settings


def _cmd_token(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    role = Role(args.role)
    subject = args.subject or (
        f"{role.value}:{','.join(args.accounts)}" if args.accounts else role.value
    )
    print(
        issue_token(resolve_auth_secret(settings), subject, role, args.accounts, ttl_s=args.ttl_s)
    )
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    from oms_server.stack import Stack

    stack = Stack(_settings(args))

    async def ready() -> None:
        for name, value in stack.endpoints().items():
            print(f"  {name:<9} {value}")
        print(f"  token     {stack.admin_token()}")
        print(f"{READY_LINE}: gRPC on {stack.app.address if stack.app else '?'}", flush=True)

    return _run_until_signal(stack.start, ready, stack.stop)


def _cmd_server(args: argparse.Namespace) -> int:
    from venues.scenario import load_scenario

    settings = _settings(args)
    scenario = load_scenario(settings.scenario_path)
    instruments = {i.symbol: i for i in scenario.instruments}
    if not settings.nats_url:
        log.warning("NATS_URL is not set: orders will rest in the OMS without routing")
    app = OmsApp(
        settings,
        instruments,
        resolve_auth_secret(settings),
        venue_configs=scenario.venues,
        nats_url=settings.nats_url,
    )

    async def ready() -> None:
        print(f"{READY_LINE}: gRPC on {app.address}", flush=True)

    return _run_until_signal(app.start, ready, app.stop)


def _cmd_venue(args: argparse.Namespace) -> int:
    from venues.nats_client import close_nats, connect_nats
    from venues.scenario import load_scenario
    from venues.sim.service import VenueSimulator

    settings = _settings(args)
    if not settings.nats_url:
        raise ValueError("NATS_URL must name the NATS server the OMS uses")
    scenario = load_scenario(settings.scenario_path)
    try:
        config = scenario.venue(args.name)
    except KeyError:
        names = ", ".join(v.name for v in scenario.venues)
        raise ValueError(f"the scenario has no venue {args.name!r} (it has {names})") from None
    state: dict[str, object] = {}

    async def start() -> None:
        nc = await connect_nats(settings.nats_url or "", name=f"venue-{args.name}")
        simulator = VenueSimulator(nc, scenario, config)
        state.update(nc=nc, simulator=simulator)
        await simulator.start()

    async def ready() -> None:
        print(f"venue {config.name} ready on {settings.nats_url}", flush=True)

    async def stop() -> None:
        if "simulator" in state:
            await state["simulator"].stop()  # type: ignore[attr-defined]
        if "nc" in state:
            await close_nats(state["nc"])  # type: ignore[arg-type]

    return _run_until_signal(start, ready, stop)


def _run_until_signal(
    start: Callable[[], Awaitable[None]],
    ready: Callable[[], Awaitable[None]],
    stop: Callable[[], Awaitable[None]],
) -> int:
    """Start, announce, wait for SIGINT/SIGTERM, stop cleanly."""

    async def run() -> int:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        try:
            await start()
            await ready()
            await stopping.wait()
            log.info("stopping")
        finally:
            with contextlib.suppress(Exception):
                await stop()
        return 0

    return _event_loop_run(run())


def _event_loop_run(coro: Awaitable[int]) -> int:
    try:
        import uvloop

        return uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        return asyncio.run(coro)  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())

"""The `oms` command line of shards: `oms up --shards N --standby --nats-cluster 3`,
`oms shard --shard-id I` and `oms front --shards N`.

``run`` is the CLI's start/announce/wait-for-a-signal/stop loop, handed in by
oms_server.cli (which owns the process's life).
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Awaitable, Callable
from dataclasses import replace

from oms_server.config import Settings
from oms_server.state import TOKEN_HINT

#: The CLI's runner: start, announce ready, wait for a signal or ``failed``, stop.
Runner = Callable[..., int]
ReadyLine = "OMS ready"
STANDBY_LINE = "OMS shard standing by"


def add_up_arguments(up: argparse.ArgumentParser) -> None:
    up.add_argument(
        "--shards",
        type=int,
        default=0,
        help="run N account shards behind the one endpoint (each its own process and store)",
    )
    up.add_argument(
        "--standby", action="store_true", help="with --shards: a standby process per shard"
    )
    up.add_argument(
        "--nats-cluster",
        type=int,
        default=0,
        metavar="N",
        help="start a local N-node JetStream cluster (R3 streams) instead of one server",
    )


def add_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    settings: Callable[[argparse.Namespace], Settings],
    run: Runner,
) -> None:
    shard = sub.add_parser("shard", help="run one account shard's owner or standby")
    shard.add_argument("--shard-id", type=int, required=True)
    shard.add_argument("--scenario", help="scenario TOML file for instruments and venues")
    shard.add_argument(
        "--nats-replicas", type=int, default=1, help="replicas of the report stream if new"
    )
    shard.set_defaults(handler=functools.partial(_cmd_shard, settings=settings, run=run))
    front = sub.add_parser("front", help="run the front of a sharded OMS alone")
    front.add_argument("--shards", type=int, required=True)
    front.set_defaults(handler=functools.partial(_cmd_front, settings=settings, run=run))


def is_sharded(args: argparse.Namespace) -> bool:
    """Whether `oms up` was asked for shards, standbys or a NATS cluster."""
    return bool(args.shards or args.standby or args.nats_cluster)


def up(args: argparse.Namespace, settings: Settings, run: Runner) -> int:
    from oms_server.shards.stack import ShardedStack

    stack = ShardedStack(
        settings,
        shards=args.shards or 1,
        standby=args.standby,
        nats_cluster=args.nats_cluster,
        log_level=args.log_level,
    )

    async def ready() -> None:
        for name, value in stack.endpoints().items():
            print(f"  {name:<9} {value}")
        print(f"  token     {TOKEN_HINT}")
        address = stack.front.address if stack.front else "?"
        print(f"{ReadyLine}: gRPC on {address}", flush=True)

    return run(stack.start, ready, stack.stop)


def _cmd_shard(
    args: argparse.Namespace, *, settings: Callable[[argparse.Namespace], Settings], run: Runner
) -> int:
    from oms_server.app import resolve_auth_secret
    from oms_server.shards.layout import shard_db_url
    from oms_server.shards.process import ShardProcess
    from venues.scenario import load_scenario

    base = settings(args)
    if not base.nats_url:
        raise ValueError("NATS_URL must name the NATS the shards and venues use")
    shard_settings = replace(base, db_url=shard_db_url(base.db_url, args.shard_id))
    shard = ShardProcess(
        shard_settings,
        args.shard_id,
        load_scenario(base.scenario_path),
        resolve_auth_secret(base),
        base.nats_url,
        exec_replicas=args.nats_replicas,
    )

    async def ready() -> None:
        print(f"{STANDBY_LINE}: shard {args.shard_id}", flush=True)

    failed: Callable[[], Awaitable[BaseException]] = shard.serve
    return run(shard.start, ready, shard.stop, failed)


def _cmd_front(
    args: argparse.Namespace, *, settings: Callable[[argparse.Namespace], Settings], run: Runner
) -> int:
    from oms_server.shards.stack import FrontProcess

    front = FrontProcess(settings(args), args.shards)

    async def ready() -> None:
        address = front.front.address if front.front else "?"
        print(f"{ReadyLine}: gRPC on {address} (front of {args.shards} shards)", flush=True)

    return run(front.start, ready, front.stop)

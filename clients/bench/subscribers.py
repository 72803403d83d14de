"""The fanout subscribers, in a process of their own (so they do not slow the submitter).

Protocol, one JSON object per line: the worker prints ``{"event": "ready"}`` once every
subscriber has seen the account's first report; it then reads ``{"expect": N,
"timeout_s": T}`` from stdin, waits until every subscriber has reached sequence N (or T
passed), prints ``{"event": "done", "subscribers": [...]}`` and exits 0.
Each subscriber has its own channel (its own connection), as separate clients would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence

import grpc

from clients.bench import aio
from clients.bench.orders import CHANNEL_OPTIONS
from clients.bench.tracking import StreamFollower, poll_until
from protos.oms.v1 import order_service_pb2_grpc as pb_grpc

#: Environment variable carrying the bearer token (kept off the command line).
TOKEN_ENV = "OMS_BENCH_TOKEN"
#: How long the subscribers may take to connect and see the first report.
READY_TIMEOUT_S = 30.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oms-bench-subscribers", description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--account", required=True)
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args(argv)
    token = os.environ.get(TOKEN_ENV, "")
    return aio.run(serve(args.address, token, args.account, args.count))


async def serve(address: str, token: str, account: str, count: int) -> int:
    metadata = (("authorization", f"Bearer {token}"),)
    options = [*CHANNEL_OPTIONS, ("grpc.use_local_subchannel_pool", 1)]
    channels = [grpc.aio.insecure_channel(address, options=options) for _ in range(count)]
    followers = [
        StreamFollower(pb_grpc.OrderServiceStub(channel), account, metadata) for channel in channels
    ]
    for follower in followers:
        follower.start()
    try:
        connected = await poll_until(
            lambda: all(f.last_sequence >= 1 for f in followers), READY_TIMEOUT_S
        )
        if not connected:
            _say({"event": "not ready", "subscribers": [f.as_dict() for f in followers]})
            return 1
        _say({"event": "ready"})
        command = json.loads(await asyncio.to_thread(sys.stdin.readline) or "{}")
        expect, timeout_s = int(command.get("expect", 0)), float(command.get("timeout_s", 0))
        await poll_until(lambda: all(f.last_sequence >= expect for f in followers), timeout_s)
        _say({"event": "done", "subscribers": [f.as_dict() for f in followers]})
        return 0
    finally:
        for follower in followers:
            await follower.stop()
        for channel in channels:
            await channel.close()


def _say(message: dict[str, object]) -> None:
    print(json.dumps(message), flush=True)

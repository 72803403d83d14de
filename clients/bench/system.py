"""The systems under test: an `oms up` stack (started here or already running) and the echo.

Both run as subprocesses, so the load generator and the server never share an event
loop or a core's worth of GIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import grpc

from clients.bench.procs import (
    BenchError,
    ManagedProcess,
    child_env,
    forget_pid,
    python_argv,
    register_pid,
)
from clients.bench.profiling import dump_stacks
from oms_server.api.auth import issue_token
from oms_server.domain.access import Role
from protos.oms.v1 import admin_service_pb2 as admin_pb
from protos.oms.v1 import admin_service_pb2_grpc as admin_grpc
from venues.nats_runtime import EmbeddedNats
from venues.scenario import load_scenario

#: What `oms up` prints once it serves (oms_server.cli.READY_LINE).
OMS_READY_PREFIX = "OMS ready"
ECHO_READY_PREFIX = "ECHO ready"
#: How long a started stack or echo server may take to print its ready line.
READY_TIMEOUT_S = 60.0
#: Package data: the bench market (three venues, deep static books).
BENCH_SCENARIO = ("clients.bench", "scenario.toml")
#: Subject of the tokens oms-bench issues for the stacks it starts.
TOKEN_SUBJECT = "oms-bench"
#: How often a started sharded stack is asked whether every shard is active.
SHARD_POLL_S = 0.2

_OMS_MAIN = "import sys; from oms_server.cli import main; sys.exit(main())"
_ECHO_MAIN = "import sys; from clients.bench.echo import main; sys.exit(main())"
_NATS_LINE = re.compile(r"^\s+nats\s+(nats://\S+)")
_READY_ADDR = re.compile(r"gRPC on (\S+)")


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to reach an OMS: gRPC address, bearer token, optional extras."""

    address: str
    token: str
    #: NATS of the stack, to count fills at the venues (None: not checked).
    nats_url: str | None = None
    #: The server process, to read its memory (None: not reported).
    server_pid: int | None = None
    #: A token that may create and fund accounts (None: ``token`` is one).
    admin_token: str | None = None

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return _bearer(self.token)

    @property
    def admin_metadata(self) -> tuple[tuple[str, str], ...]:
        return _bearer(self.admin_token or self.token)


@dataclass
class StackRun:
    """A stack this run started; exit codes are set once it stopped.

    ``process`` is the OMS (`oms up`, or `oms server` with the venues apart); ``helpers``
    are the venue processes when they run apart.
    """

    target: Target
    process: ManagedProcess
    helpers: list[ManagedProcess] = field(default_factory=list)
    exit_code: int | None = None
    #: Every process of the stack by its part ("front", "shard 1", "venues", "nats"),
    #: for CPU per part (filled for sharded stacks).
    parts: dict[str, int] = field(default_factory=dict)
    #: The stack's signing secret, for tokens of fewer accounts (`fix`: one per session).
    secret: str = field(default="", repr=False)

    def as_dict(self) -> dict[str, object]:
        failed = self.exit_code != 0
        return {
            "pid": self.process.pid,
            "exit_code": self.exit_code,
            "helper_exit_codes": {h.name: h.exit_code for h in self.helpers},
            "log_tail": self.process.tail() if failed else "",
            "hang_dump": self.process.hang_report,
            "clean": self.clean,
        }

    @property
    def clean(self) -> bool:
        return self.exit_code == 0 and all(h.exit_code == 0 for h in self.helpers)


@dataclass
class EchoRun:
    """The echo server this run started; ``exit_code`` is set once it stopped."""

    address: str
    pid: int
    exit_code: int | None = None


def bench_scenario_path() -> Path:
    """The bundled bench scenario file."""
    return Path(str(resources.files(BENCH_SCENARIO[0]).joinpath(BENCH_SCENARIO[1])))


@contextlib.asynccontextmanager
async def started_stack(
    scenario: Path,
    accounts: Sequence[str],
    workdir: Path | None = None,
    *,
    venues_apart: bool = False,
) -> AsyncIterator[StackRun]:
    """A stack on a free port with a temp state dir, SQLite file and secret; stopped after.

    By default one `oms up` (NATS, venues and OMS in one process, as users run it). With
    ``venues_apart``: a nats-server, one `oms venue` for every venue and `oms server`, so the
    OMS process holds only the OMS. The token is a trader token for ``accounts`` (an
    admin token sets them up). Every process must exit 0 on SIGTERM; the exit codes are
    recorded in the yielded run.
    """
    with _workdir(workdir) as root:
        secret = secrets.token_urlsafe(32)
        env = _oms_env(root, scenario, secret)
        async with contextlib.AsyncExitStack() as exits:
            helpers: list[ManagedProcess] = []
            run: StackRun | None = None
            process: ManagedProcess | None = None
            try:
                if venues_apart:
                    nats = await exits.enter_async_context(_embedded_nats())
                    env["NATS_URL"] = nats.url
                    helpers = await _start_venues(scenario, env, root)
                command = "server" if venues_apart else "up"
                process = await ManagedProcess.spawn(
                    f"oms {command}",
                    python_argv(_OMS_MAIN, command),
                    log_path=root / "oms.log",
                    env=env,
                )
                lines = await process.wait_for_line(OMS_READY_PREFIX, READY_TIMEOUT_S)
                token = issue_token(secret, TOKEN_SUBJECT, Role.TRADER, accounts)
                admin = issue_token(secret, TOKEN_SUBJECT, Role.ADMIN)
                target = _target_from(lines, token, admin, process.pid, env.get("NATS_URL"))
                run = StackRun(target, process, helpers, secret=secret)
                yield run
            finally:
                code = await process.stop(on_hang=dump_stacks) if process is not None else None
                for helper in reversed(helpers):
                    await helper.stop()
                if run is not None:
                    run.exit_code = code


@contextlib.asynccontextmanager
async def started_sharded_stack(
    scenario: Path, accounts: Sequence[str], shards: int, workdir: Path | None = None
) -> AsyncIterator[StackRun]:
    """A sharded stack as separate processes: a nats-server, one `oms venue`, ``shards``
    `oms shard` processes (one owner each, no standbys) and `oms front` on a free port.

    Yielded once every shard is active; ``parts`` names each process, ``process`` is the
    front. Stopped front first, then the shards, then the venues and NATS.
    """
    with _workdir(workdir) as root:
        secret = secrets.token_urlsafe(32)
        env = _oms_env(root, scenario, secret)
        admin = issue_token(secret, TOKEN_SUBJECT, Role.ADMIN)
        async with contextlib.AsyncExitStack() as exits:
            nats = await exits.enter_async_context(_embedded_nats())
            env["NATS_URL"] = nats.url
            started: list[ManagedProcess] = []
            run: StackRun | None = None
            front: ManagedProcess | None = None
            try:
                started.extend(await _start_venues(scenario, env, root))
                for shard_id in range(1, shards + 1):
                    argv = python_argv(_OMS_MAIN, "shard", "--shard-id", str(shard_id))
                    log_path = root / f"shard-{shard_id}.log"
                    started.append(
                        await ManagedProcess.spawn(
                            f"shard {shard_id}", argv, log_path=log_path, env=env
                        )
                    )
                argv = python_argv(_OMS_MAIN, "front", "--shards", str(shards))
                front = await ManagedProcess.spawn(
                    "oms front", argv, log_path=root / "front.log", env=env
                )
                lines = await front.wait_for_line(OMS_READY_PREFIX, READY_TIMEOUT_S)
                address = _ready_address(lines, OMS_READY_PREFIX)
                await _wait_shards_active(address, _bearer(admin), shards)
                token = issue_token(secret, TOKEN_SUBJECT, Role.TRADER, accounts)
                target = Target(address, token, nats.url, front.pid, admin)
                parts = {"front": front.pid, **{p.name: p.pid for p in started}}
                if nats.pid is not None:
                    parts["nats"] = nats.pid
                run = StackRun(target, front, list(started), parts=parts)
                yield run
            finally:
                code = await front.stop(on_hang=dump_stacks) if front is not None else None
                for process in reversed(started):
                    await process.stop()
                if run is not None:
                    run.exit_code = code


async def _wait_shards_active(
    address: str, metadata: tuple[tuple[str, str], ...], shards: int
) -> None:
    """Until the front's ListShards shows every shard active (BenchError after a while)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    async with grpc.aio.insecure_channel(address) as channel:
        stub = admin_grpc.AdminServiceStub(channel)
        while True:
            reply = await stub.ListShards(admin_pb.ListShardsRequest(), metadata=metadata)
            active = [s for s in reply.shards if s.state == admin_pb.SHARD_STATE_ACTIVE]
            if len(active) == shards:
                return
            if time.monotonic() > deadline:
                raise BenchError(f"{len(active)} of {shards} shards active after the wait")
            await asyncio.sleep(SHARD_POLL_S)


@contextlib.asynccontextmanager
async def started_echo(workdir: Path | None = None) -> AsyncIterator[EchoRun]:
    """The echo server on a free port."""
    with _workdir(workdir) as root:
        argv = python_argv(_ECHO_MAIN, "--addr", "127.0.0.1:0")
        process = await ManagedProcess.spawn(
            "echo server", argv, log_path=root / "echo.log", env=child_env({})
        )
        run: EchoRun | None = None
        try:
            lines = await process.wait_for_line(ECHO_READY_PREFIX, READY_TIMEOUT_S)
            run = EchoRun(_ready_address(lines, ECHO_READY_PREFIX), process.pid)
            yield run
        finally:
            code = await process.stop()
            if run is not None:
                run.exit_code = code


def _oms_env(root: Path, scenario: Path, secret: str) -> dict[str, str]:
    env = child_env(
        {
            "OMS_GRPC_ADDR": "127.0.0.1:0",
            "OMS_DB_URL": f"sqlite+aiosqlite:///{root / 'oms.db'}",
            "OMS_AUTH_SECRET": secret,
            "OMS_STATE_DIR": str(root / "state"),
            "OMS_SCENARIO": str(scenario),
            # the bench measures orders: no operator page (and no fixed port to collide on)
            "OMS_WEB_ADDR": "off",
        }
    )
    env.pop("NATS_URL", None)
    return env


@contextlib.asynccontextmanager
async def _embedded_nats() -> AsyncIterator[EmbeddedNats]:
    """A nats-server with JetStream for the stack (its pid is registered for clean-up)."""
    server = EmbeddedNats()
    await server.start()
    pid = server.pid
    if pid is not None:
        register_pid(pid)
    try:
        yield server
    finally:
        await server.stop()
        if pid is not None:
            forget_pid(pid)


async def _start_venues(scenario: Path, env: dict[str, str], root: Path) -> list[ManagedProcess]:
    """One `oms venue` process hosting every venue of ``scenario`` (one process, not one per
    venue: on a two-core machine every extra interpreter takes CPU from the OMS)."""
    names = [venue.name for venue in load_scenario(str(scenario)).venues]
    argv = python_argv(_OMS_MAIN, "venue")
    process = await ManagedProcess.spawn("venues", argv, log_path=root / "venues.log", env=env)
    try:
        for name in names:
            await process.wait_for_line(f"venue {name} ready", READY_TIMEOUT_S)
    except BaseException:
        await process.stop()
        raise
    return [process]


def _target_from(
    lines: list[str], token: str, admin: str, pid: int, nats_url: str | None
) -> Target:
    printed = next((m.group(1) for line in lines if (m := _NATS_LINE.match(line))), None)
    address = _ready_address(lines, OMS_READY_PREFIX)
    return Target(address, token, printed or nats_url, pid, admin)


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def _ready_address(lines: list[str], prefix: str) -> str:
    for line in lines:
        if line.startswith(prefix) and (match := _READY_ADDR.search(line)):
            return match.group(1)
    raise BenchError(f"no address in the ready line {prefix!r}")


@contextlib.contextmanager
def _workdir(given: Path | None) -> Iterator[Path]:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="oms-bench-") as tmp:
        yield Path(tmp)

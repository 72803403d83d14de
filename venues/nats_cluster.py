"""A local JetStream cluster of embedded ``nats-server`` nodes (`oms up --nats-cluster 3`).

Each node is an ``EmbeddedNats`` (127.0.0.1, free client and monitoring ports, its own
store directory) that also listens for routes on a free cluster port and routes to every
other node. ``start`` returns once every node is up and the cluster places streams of
``replicas`` copies (R3 on three nodes); ``url`` lists every node, comma-separated, as
NATS_URL may. Tests kill and restart one node (``nodes[i]``) while the others carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from pathlib import Path

import nats
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import APIError

from venues.nats_runtime import HOST, EmbeddedNats, NatsStartError

CLUSTER_NAME = "oms"
#: Seconds ``start`` waits for the cluster to place replicated streams.
READY_TIMEOUT_S = 20.0
#: The stream ``start`` makes (and deletes) to learn that the cluster is ready.
PROBE_STREAM = "OMS_CLUSTER_PROBE"
PROBE_SUBJECT = "oms.cluster.probe"
POLL_INTERVAL_S = 0.1
#: Most copies JetStream keeps of a stream (a cluster of more nodes still keeps three).
MAX_REPLICAS = 3


class ClusterNode(EmbeddedNats):
    """One node: an embedded server with a route port and routes to its peers."""

    def __init__(self, name: str, store_dir: Path, cluster_port: int, peers: list[int]) -> None:
        super().__init__(store_dir)
        self.name = name
        self.cluster_port = cluster_port
        self._peers = peers

    def _command(self, binary: str) -> list[str]:
        routes = ",".join(f"nats://{HOST}:{port}" for port in self._peers)
        return [
            *super()._command(binary),
            "--server_name",
            self.name,
            "--cluster_name",
            CLUSTER_NAME,
            "--cluster",
            f"nats://{HOST}:{self.cluster_port}",
            "--routes",
            routes,
        ]


class NatsCluster:
    """``size`` clustered nodes under ``store_dir`` (node ``n1`` in ``store_dir/n1``...)."""

    def __init__(self, size: int, store_dir: str | Path) -> None:
        if size < 1:
            raise ValueError("a cluster has at least one node")
        ports = _free_ports(size)
        root = Path(store_dir)
        self.nodes = [
            ClusterNode(
                f"n{i + 1}",
                root / f"n{i + 1}",
                port,
                [peer for peer in ports if peer != port],
            )
            for i, port in enumerate(ports)
        ]

    @property
    def url(self) -> str:
        """Every node's client URL, comma-separated."""
        return ",".join(node.url for node in self.nodes)

    @property
    def replicas(self) -> int:
        return min(len(self.nodes), MAX_REPLICAS)

    async def start(self) -> None:
        try:
            await asyncio.gather(*(node.start() for node in self.nodes))
            await self.wait_until_replicating()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                await node.stop()

    async def wait_until_replicating(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Until the cluster places a stream of ``replicas`` copies (its meta leader is
        elected and knows every peer): a probe stream is made, then deleted."""
        deadline = time.monotonic() + timeout_s
        nc = await nats.connect(self.url.split(","), connect_timeout=2.0)
        probe = StreamConfig(
            name=PROBE_STREAM,
            subjects=[PROBE_SUBJECT],
            num_replicas=self.replicas,
            storage=StorageType.MEMORY,
        )
        try:
            js = nc.jetstream(timeout=1.0)
            while True:
                try:
                    await js.add_stream(probe)
                    await js.delete_stream(PROBE_STREAM)
                    return
                except (APIError, nats.errors.Error, TimeoutError) as exc:
                    if time.monotonic() > deadline:
                        raise NatsStartError(
                            f"the NATS cluster at {self.url} could not place a stream of "
                            f"{self.replicas} replicas within {timeout_s:g} s: {exc}"
                        ) from exc
                    await asyncio.sleep(POLL_INTERVAL_S)
        finally:
            await nc.close()


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free ports on HOST (bound at once, so never the same twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()

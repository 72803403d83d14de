"""The operator page's HTTP server: uvicorn, in the OMS's own event loop.

The OMS owns the process's signals (``oms up`` stops everything on SIGINT/SIGTERM), so
uvicorn is told to install no handlers; the socket is bound here, so port 0 works (tests)
and the port is known before the first request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn

from oms_server.web.app import OperatorSite

log = logging.getLogger(__name__)

#: Seconds open requests (event streams are ended first) get when the OMS stops.
STOP_GRACE_S = 1


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers, telling when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the OMS's own handlers stop it (see oms_server.cli)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.listening.set()


class OperatorWeb:
    """Serves an ``OperatorSite`` on ``addr`` (host:port; port 0 picks a free one)."""

    def __init__(self, site: OperatorSite, addr: str) -> None:
        self.site = site
        self._addr = addr
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.host = ""
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def start(self) -> None:
        host, _, port = self._addr.rpartition(":")
        self.host = host.strip("[]") or "127.0.0.1"
        sock = _listening_socket(self.host, int(port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.site.app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=STOP_GRACE_S,
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="operator-web")
        listening = asyncio.ensure_future(self._server.listening.wait())
        await asyncio.wait((listening, self._task), return_when=asyncio.FIRST_COMPLETED)
        if not listening.done():
            listening.cancel()
            await self._task  # raises what stopped it
            raise RuntimeError(f"the operator page's server stopped at start on {self._addr}")
        log.info("operator page on %s", self.url)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self.site.drop_feeds()
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._server = self._task = None


def _listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket; OSError naming the address when it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OSError(
            exc.errno, f"the operator page cannot listen on {host}:{port}: {exc}"
        ) from exc
    sock.setblocking(False)
    return sock

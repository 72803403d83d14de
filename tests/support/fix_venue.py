"""A FIX venue nobody here wrote, for the FIX venue connector's tests.

QuickFIX's C++ executor example (Debian's ``libquickfix-doc`` ships its source,
``libquickfix-dev`` the library; ``make test`` installs them when missing) is built once
per source into a cache directory under /tmp, twice: as shipped, and with
``status_executor.cpp`` (ours) as its main: the example's Application, unmodified, plus
an answer to OrderStatusRequest, which the example lacks. Both fill every limit order
at its price at once.

``FixProxy`` sits between the OMS and the executor so a test can lose messages on the
wire and cut the connection, as a network would.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.process import free_port
from tests.support.waiting import eventually

EXAMPLE_DIR = Path("/usr/share/doc/libquickfix-doc/examples/executor/C++")
LIBRARY = Path("/usr/lib/x86_64-linux-gnu/libquickfix.so")
OUR_SOURCE = Path(__file__).parent / "fix_executor" / "status_executor.cpp"
CACHE_ROOT = Path("/tmp/oms-fix-executor")
VENUE_COMP_ID = "EXEC"
OMS_COMP_ID = "OMS"


def missing_prerequisites() -> str | None:
    """Why the executor cannot be built here, or None."""
    if shutil.which("g++") is None:
        return "g++ is not installed"
    if not (EXAMPLE_DIR / "Application.h").exists():
        return "libquickfix-doc is not installed (the executor example's source)"
    if not LIBRARY.exists() and not Path("/usr/include/quickfix/Session.h").exists():
        return "libquickfix-dev is not installed"
    return None


def _example_source() -> str:
    return gzip.decompress((EXAMPLE_DIR / "Application.cpp.gz").read_bytes()).decode()


@dataclass(frozen=True)
class Executors:
    """The example as shipped (``plain``: answers OrderStatusRequest with
    BusinessMessageReject) and with our status answer (``status``)."""

    status: Path
    plain: Path


def build_executors() -> Executors:
    """Both executors, built once per source (compiled in parallel, then cached)."""
    application_cpp = _example_source()
    main_cpp = (EXAMPLE_DIR / "executor.cpp").read_text()
    digest = hashlib.sha256(
        "".join(
            (application_cpp, main_cpp, (EXAMPLE_DIR / "Application.h").read_text(),
             OUR_SOURCE.read_text())
        ).encode()
    ).hexdigest()[:16]  # fmt: skip
    out_dir = CACHE_ROOT / digest
    built = Executors(out_dir / "status_executor", out_dir / "executor")
    if built.status.exists() and built.plain.exists():
        return built
    build = CACHE_ROOT / f"{digest}.build"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    (build / "Application.cpp").write_text(application_cpp)
    (build / "executor.cpp").write_text(main_cpp)
    (build / "config.h").write_text("")  # the example's autotools header, empty here
    flags = ["-std=c++14", "-O0", "-w", f"-I{build}", f"-I{EXAMPLE_DIR}"]
    sources = (build / "Application.cpp", build / "executor.cpp", OUR_SOURCE)
    compiles = [
        subprocess.Popen(["g++", *flags, "-c", str(src), "-o", str(build / f"{src.stem}.o")])
        for src in sources
    ]
    if any(process.wait() != 0 for process in compiles):
        raise RuntimeError("building QuickFIX's executor failed (see the g++ output)")
    for name, main in (("status_executor", "status_executor.o"), ("executor", "executor.o")):
        subprocess.run(
            ["g++", "-o", str(build / name), str(build / "Application.o"), str(build / main),
             "-lquickfix", "-lpthread"],
            check=True,
        )  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    for binary in (built.status, built.plain):
        (build / binary.name).rename(binary)
    shutil.rmtree(build, ignore_errors=True)
    return built


@dataclass
class Executor:
    """The executor as a process, accepting OMS->EXEC FIX 4.4 on 127.0.0.1:``port``."""

    binary: Path
    work_dir: Path
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None

    def settings(self) -> str:
        return f"""[DEFAULT]
ConnectionType=acceptor
SocketAcceptPort={self.port}
SocketReuseAddress=Y
FileStorePath={self.work_dir / "store"}
FileLogPath={self.work_dir / "log"}
StartTime=00:00:00
EndTime=00:00:00
NonStopSession=Y
UseDataDictionary=N
[SESSION]
BeginString=FIX.4.4
SenderCompID={VENUE_COMP_ID}
TargetCompID={OMS_COMP_ID}
"""

    @property
    def plain(self) -> bool:
        """The example as shipped: it logs to its stdout and says nothing when ready."""
        return self.binary.name == "executor"

    async def start(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        config = self.work_dir / "executor.cfg"
        config.write_text(self.settings())
        self.process = await asyncio.create_subprocess_exec(
            str(self.binary),
            str(config),
            stdout=(self.work_dir / "screen.log").open("ab")
            if self.plain
            else asyncio.subprocess.PIPE,
            stderr=(self.work_dir / "stderr.log").open("ab"),
        )
        if self.plain:
            await eventually(self._listening, message="the executor listening")
            return
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 10)
        if b"executor ready" not in line:
            raise RuntimeError(f"the executor did not start: {line!r}")

    async def _listening(self) -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        writer.transport.abort()
        return True

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(sig)
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()

    def received(self, msg_type: str) -> int:
        """How many messages of ``msg_type`` the executor got (from its message log)."""
        logs = [self.work_dir / "screen.log"] if self.plain else []
        logs += (self.work_dir / "log").glob("*.messages.current.log")
        needle = f"\x0135={msg_type}\x01"
        return sum(path.read_text(errors="replace").count(needle) for path in logs)


@dataclass
class FixProxy:
    """A TCP relay from 127.0.0.1:``port`` to the executor; it can lose what the venue
    sends (``swallow_replies``, counting the ExecutionReports it ate) or what the OMS
    sends (``swallow_requests``, counting the NewOrderSingles), and cut every connection
    (``cut``)."""

    target_port: int
    port: int = field(default_factory=free_port)
    swallow_replies: bool = False
    swallowed_reports: int = 0
    swallow_requests: bool = False
    swallowed_orders: int = 0
    _server: asyncio.Server | None = None
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def cut(self) -> None:
        """Close every relayed connection at once (both sides see the socket drop)."""
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers += [writer, up_writer]
        for task in (
            asyncio.create_task(self._pump(reader, up_writer, upstream=True)),
            asyncio.create_task(self._pump(up_reader, writer, upstream=False)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool
    ) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                if not upstream and self.swallow_replies:
                    self.swallowed_reports += data.count(b"\x0135=8\x01")
                    continue
                if upstream and self.swallow_requests:
                    self.swallowed_orders += data.count(b"\x0135=D\x01")
                    continue
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

"""Optional sampling profile of the server during a measured phase (py-spy, if installed).

``py-spy record --gil --format raw --nolineno`` samples only the thread holding the GIL
and writes collapsed stacks. For a Python server on one event loop that is the question
that matters: what keeps the interpreter busy. The stacks are summed three ways, each as
a share of the GIL-holding samples:

- ``by_task``: the coroutine (or thread) at the root of the stack, below the event loop:
  the engine's writer, a venue simulator loop, a gRPC handler, the NATS reader...;
- ``self_pct``: the function on top of the stack;
- ``inclusive_pct``: functions anywhere on the stack (the event-loop entry excluded).

``gil_busy_pct`` is the share of the recorded time the GIL was held at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import STDOUT

from clients.bench.procs import ManagedProcess

#: Samples per second py-spy takes.
SAMPLE_RATE_HZ = 100
#: Seconds py-spy gets beyond the phase to write its output.
WRITE_GRACE_S = 20.0
#: Longest a stack dump of a hung process may take.
DUMP_TIMEOUT_S = 15.0
#: Functions listed per ranking.
TOP_FUNCTIONS = 15
#: Frames of the event loop's entry: everything up to the last of them is the same
#: in every sample and says nothing (``run (uvloop/...)``, ``Runner.run (asyncio/...)``).
LOOP_ENTRY_PREFIXES = ("Runner.run ", "run (uvloop", "BaseEventLoop.run_forever ")
LOOP_ITSELF = "(the event loop itself: C code of uvloop, grpc, sockets)"


@dataclass
class Profile:
    """Where the server's GIL time went during one phase (shares in percent)."""

    path: str
    samples: int = 0
    gil_busy_pct: float | None = None
    by_task: list[tuple[str, float]] = field(default_factory=list)
    self_pct: list[tuple[str, float]] = field(default_factory=list)
    inclusive_pct: list[tuple[str, float]] = field(default_factory=list)
    error: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "raw_stacks": self.path,
            "samples": self.samples,
            "gil_busy_pct": self.gil_busy_pct,
            "by_task": self.by_task,
            "self_pct": self.self_pct,
            "inclusive_pct": self.inclusive_pct,
            "error": self.error,
        }


def py_spy() -> str | None:
    """The py-spy executable next to this interpreter, or on PATH."""
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


@contextlib.asynccontextmanager
async def profiled(
    pid: int | None, out_dir: Path | None, name: str, duration_s: float
) -> AsyncIterator[list[Profile]]:
    """Record ``pid`` for ``duration_s`` while the body runs; yields a list filled after."""
    found: list[Profile] = []
    binary = py_spy()
    if pid is None or out_dir is None or binary is None:
        yield found
        return
    out = _output_file(out_dir, name)
    seconds = math.ceil(duration_s)
    argv = [binary, "record", "--pid", str(pid), "--rate", str(SAMPLE_RATE_HZ), "--gil"]
    argv += ["--duration", str(seconds), "--format", "raw", "--nolineno", "--output", str(out)]
    recorder = await ManagedProcess.spawn(f"py-spy {name}", argv, log_path=out_dir / "py-spy.log")
    try:
        yield found
    finally:
        code = await recorder.stop_when_done(duration_s + WRITE_GRACE_S)
        found.append(_collect(out, code, recorder, seconds))


async def dump_stacks(pid: int) -> str:
    """``py-spy dump`` of ``pid`` (the stacks of every thread), or why there is none."""
    binary = py_spy()
    if binary is None:
        return "py-spy is not installed"
    proc = await asyncio.create_subprocess_exec(
        binary, "dump", "--pid", str(pid), stdout=asyncio.subprocess.PIPE, stderr=STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), DUMP_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return "py-spy dump timed out"
    return out.decode(errors="replace")


def summarize(path: Path, seconds: float | None = None, top: int = TOP_FUNCTIONS) -> Profile:
    """The three rankings of a py-spy raw (collapsed stacks) file."""
    tasks: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = [f for f in stack.split(";") if f]
        if not frames or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        below = _below_loop(frames)
        tasks[below[0] if below else LOOP_ITSELF] += count
        own[frames[-1] if below else LOOP_ITSELF] += count
        for frame in set(below):
            inclusive[frame] += count
    busy = round(100.0 * total / (seconds * SAMPLE_RATE_HZ), 1) if seconds else None
    return Profile(
        str(path),
        total,
        busy,
        _shares(tasks, total, top),
        _shares(own, total, top),
        _shares(inclusive, total, top),
    )


def _below_loop(frames: list[str]) -> list[str]:
    """The frames under the event loop's entry (all of them for other threads)."""
    entries = [i for i, f in enumerate(frames) if f.startswith(LOOP_ENTRY_PREFIXES)]
    return frames[entries[-1] + 1 :] if entries else frames


def _output_file(out_dir: Path, name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir / f"{name}.txt"


def _collect(out: Path, code: int, recorder: ManagedProcess, seconds: float) -> Profile:
    profile = summarize(out, seconds) if out.exists() else Profile(str(out))
    if code != 0 or not out.exists():
        profile.error = f"py-spy exited with {code}: {recorder.tail(5)}"
    return profile


def _shares(counts: Counter[str], total: int, top: int) -> list[tuple[str, float]]:
    if not total:
        return []
    return [(name, round(100.0 * n / total, 1)) for name, n in counts.most_common(top)]

"""The result table: each figure beside its same-run baseline, the ratio, and its target."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from clients.bench.procstats import BYTES_PER_MIB
from clients.bench.stats import ratio
from clients.bench.tracking import STAGES

#: Issue #7's targets.
SUBMIT_MIN_RATIO = 0.5
#: Issue 25's: streamed order entry at least as fast as the unary echo.
STREAM_SUBMIT_MIN_RATIO = 1.0
#: Issue 22's: FIX round trips at least half a bare QuickFIX echo's, and the gateway
#: adding under 2 ms to SubmitOrder's p50 at 200 orders/s.
FIX_MIN_ECHO_RATIO = 0.5
FIX_ADDED_P50_MAX_MS = 2.0
E2E_P50_MAX_MS = 3.0
E2E_P99_MAX_MS = 15.0
#: Issue 25's: at light load, e2e's p50 at most twice and p99 three times the echo's.
LIGHT_E2E_MAX_P50_RATIO = 2.0
LIGHT_E2E_MAX_P99_RATIO = 3.0
RSS_MAX_GROWTH = 0.10
FANOUT_MAX_DROP = 1 / 3
#: Issue 25's: e2e capacity on one shard at least half NautilusTrader's in-process rate.
CAPACITY_MIN_PEER_RATIO = 0.5
#: ...and the server's CPU per order at light load at most 1.5 times that at capacity.
LIGHT_LOAD_MAX_RATIO = 1.5
#: Share of the offered rate a sustained run must achieve (acks over the loop's time).
SUSTAINED_MIN_ACHIEVED = 0.98

PASS, MISS, INFO, ERROR = "PASS", "MISS", "", "ERROR"
_STYLES = {PASS: "bold green", MISS: "bold red", ERROR: "bold red"}

Result = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Row:
    """One figure: its value, the baseline beside it, their ratio, the target, the verdict."""

    scenario: str
    figure: str
    value: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    status: str = INFO

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def rows_for(results: dict[str, Result]) -> list[Row]:
    """Every row of every scenario present in ``results``, in scenario order."""
    rows: list[Row] = []
    for name, result in results.items():
        if "error" in result:
            rows.append(Row(name, "run failed", str(result["error"])[:200], status=ERROR))
            continue
        rows.extend(_BUILDERS[name](result))
    return rows


def render(rows: list[Row], console: Console, *, standard: bool) -> None:
    """Print ``rows`` as a table (and say so when targets are read at other parameters)."""
    table = Table(title="oms-bench", show_lines=False)
    for column in ("scenario", "figure", "result", "baseline (echo)", "ratio", "target", ""):
        table.add_column(column, overflow="fold")
    previous = ""
    for row in rows:
        table.add_row(
            row.scenario if row.scenario != previous else "",
            row.figure,
            row.value,
            row.baseline,
            row.ratio,
            row.target,
            f"[{_STYLES.get(row.status, '')}]{row.status}[/]" if row.status else "",
        )
        previous = row.scenario
    console.print(table)
    if not standard:
        console.print(
            "[yellow]Parameters differ from the issue's (50 clients, 500/s, 1,000/s for 60 s, "
            "50 subscribers): PASS/MISS are indicative only.[/]"
        )


def _verdict(ok: bool) -> str:
    return PASS if ok else MISS


def _ms(value: float) -> str:
    return f"{value:,.2f} ms"


def _rate(value: float) -> str:
    return f"{value:,.0f}/s"


def _times(value: float | None) -> str:
    return f"{value:,.2f}x" if value is not None else ""


def _pcts(latency: Result) -> str:
    return " / ".join(f"{latency[k]:,.2f}" for k in ("p50_ms", "p90_ms", "p99_ms", "p999_ms"))


def _baseline_rows(result: Result) -> Iterator[Row]:
    closed, opened = result["closed"], result["open"]
    clients, rate = result["concurrency"], result["rate"]
    yield Row("baseline", f"echo throughput, {clients} clients", _rate(closed["throughput_per_s"]))
    yield Row("baseline", "echo p50/p90/p99/p99.9 (ms), closed", _pcts(closed["latency"]))
    yield Row("baseline", f"echo p50/p90/p99/p99.9 (ms), {rate:g}/s", _pcts(opened["latency"]))
    yield from _errors_and_cpu("baseline", closed)


def _submit_rows(result: Result) -> Iterator[Row]:
    run, base = result["result"], result["baseline"]
    share = result["throughput_ratio"]
    yield Row(
        "submit",
        f"SubmitOrder throughput, {result['concurrency']} clients",
        _rate(run["throughput_per_s"]),
        _rate(base["throughput_per_s"]),
        f"{share:.0%}" if share is not None else "",
        f"≥ {SUBMIT_MIN_RATIO:.0%} of baseline",
        _ratio_verdict(share, SUBMIT_MIN_RATIO, run),
    )
    yield Row(
        "submit",
        "p50/p90/p99/p99.9 (ms)",
        _pcts(run["latency"]),
        _pcts(base["latency"]),
        _times(ratio(run["latency"]["p50_ms"], base["latency"]["p50_ms"])),
    )
    slices = result.get("interleaved_slices")
    if slices:
        yield Row("submit", "how measured", f"{slices} slices each, alternating with the echo")
    yield from _errors_and_cpu("submit", run, base)


def _ratio_verdict(share: float | None, minimum: float, run: Result) -> str:
    """A throughput goal met: the ratio reached and no errors."""
    return _verdict(share is not None and share >= minimum and not run["errors"])


def _throughput_ratio_row(
    scenario: str, what: str, result: Result, minimum: float, against: str
) -> Row:
    """A closed-loop rate beside its same-run baseline, as a ratio with its goal."""
    run, base, share = result["result"], result["baseline"], result["throughput_ratio"]
    return Row(
        scenario,
        what,
        _rate(run["throughput_per_s"]),
        _rate(base["throughput_per_s"]),
        _times(share),
        f"≥ {minimum:.2f}x {against}",
        _ratio_verdict(share, minimum, run),
    )


def _stream_submit_rows(result: Result) -> Iterator[Row]:
    run, base = result["result"], result["baseline"]
    clients, window = result["concurrency"], result["window"]
    yield _throughput_ratio_row(
        "stream-submit",
        f"streamed order entry vs unary echo, {clients} clients x {window} in flight",
        result,
        STREAM_SUBMIT_MIN_RATIO,
        "unary echo",
    )
    unary = result["unary"]
    yield Row(
        "stream-submit",
        f"streamed vs unary SubmitOrder, {clients} clients, same stack",
        _rate(run["throughput_per_s"]),
        f"{_rate(unary['throughput_per_s'])} (unary submit)",
        _times(result["unary_ratio"]),
    )
    yield Row(
        "stream-submit", "p50/p90/p99/p99.9 (ms)", _pcts(run["latency"]), _pcts(base["latency"])
    )
    yield Row("stream-submit", "unary submit p50/p90/p99/p99.9 (ms)", _pcts(unary["latency"]))
    yield from _per_order_row(
        "stream-submit",
        "unary submit: server CPU per order (ms)",
        _server_ms_per_call,
        ".3f",
        unary,
        base,
    )
    slices = result.get("interleaved_slices")
    if slices:
        yield Row("stream-submit", "how measured", f"{slices} slices each of the three, in turn")
    yield from _errors_and_cpu("stream-submit", run, base)


def _fix_rows(result: Result) -> Iterator[Row]:
    """NewOrderSingle → first ExecutionReport: the gateway beside the bare QuickFIX echo
    (closed loop), and beside SubmitOrder on the same stack (open loop, p50)."""
    run, base = result["result"], result["baseline"]
    sessions, window = result["sessions"], result["window"]
    yield _throughput_ratio_row(
        "fix",
        f"FIX gateway vs bare QuickFIX echo, round trips/s, {sessions} sessions x {window}",
        result,
        FIX_MIN_ECHO_RATIO,
        "QuickFIX echo",
    )
    yield Row("fix", "NOS→ER p50/p90/p99/p99.9 (ms)", _pcts(run["latency"]), _pcts(base["latency"]))
    unary = result["unary"]
    yield Row(
        "fix",
        f"FIX gateway vs unary SubmitOrder, same stack, {sessions * window} callers",
        _rate(run["throughput_per_s"]),
        f"{_rate(unary['throughput_per_s'])} (unary submit)",
        _times(result["unary_ratio"]),
    )
    via_fix, via_grpc = result["open_fix"], result["open_grpc"]
    rate, added = result["rate_per_s"], result["p50_added_ms"]
    measured = via_fix["ok"] > 0 and via_grpc["ok"] > 0
    yield Row(
        "fix",
        f"FIX gateway adds to the gRPC path at {rate:g} orders/s, p50",
        f"{added:+,.2f} ms (FIX {_ms(via_fix['latency']['p50_ms'])})",
        f"{_ms(via_grpc['latency']['p50_ms'])} (gRPC SubmitOrder)",
        _times(ratio(via_fix["latency"]["p50_ms"], via_grpc["latency"]["p50_ms"])),
        f"< {FIX_ADDED_P50_MAX_MS:g} ms",
        _verdict(measured and added < FIX_ADDED_P50_MAX_MS and not via_fix["errors"]),
    )
    yield Row(
        "fix",
        f"FIX / gRPC p50/p90/p99/p99.9 (ms), {rate:g}/s",
        _pcts(via_fix["latency"]),
        _pcts(via_grpc["latency"]),
    )
    slices = result.get("interleaved_slices")
    if slices:
        yield Row(
            "fix",
            "how measured",
            f"{slices} slices each: gateway, echo, unary submit; FIX, gRPC. Server CPU: `oms fix`",
        )
    failed = {name: code for name, code in result["exit_codes"].items() if code != 0}
    if failed:
        codes = ", ".join(f"{name}: {code}" for name, code in failed.items())
        yield Row("fix", "FIX processes stopped cleanly", codes, status=ERROR)
    for name, side in (("FIX", via_fix), ("gRPC", via_grpc)):
        if side["errors"]:
            errors = ", ".join(f"{k}: {v:,}" for k, v in side["errors"].items())
            yield Row("fix", f"{name} call errors at {rate:g}/s", errors)
    yield from _errors_and_cpu("fix", run, base)


def _e2e_rows(result: Result) -> Iterator[Row]:
    latency, echo = result["latency"], result["baseline"]["latency"]
    rate = result["rate_per_s"]
    yield Row(
        "e2e",
        f"submit→final p50, {rate:g}/s",
        _ms(latency["p50_ms"]),
        _ms(echo["p50_ms"]),
        _times(result["p50_ratio"]),
        f"< {E2E_P50_MAX_MS:g} ms",
        _verdict(latency["count"] > 0 and latency["p50_ms"] < E2E_P50_MAX_MS),
    )
    yield Row(
        "e2e",
        f"submit→final p99, {rate:g}/s",
        _ms(latency["p99_ms"]),
        _ms(echo["p99_ms"]),
        _times(result["p99_ratio"]),
        f"< {E2E_P99_MAX_MS:g} ms",
        _verdict(latency["count"] > 0 and latency["p99_ms"] < E2E_P99_MAX_MS),
    )
    yield Row("e2e", "p50/p90/p99/p99.9 (ms)", _pcts(latency), _pcts(echo))
    yield from _stage_rows("e2e", result)
    yield from _completion_rows("e2e", result)
    yield from _errors_and_cpu("e2e", result, result["baseline"])
    if "light" in result:
        yield from _light_e2e_rows(result["light"])


def _light_e2e_rows(light: Result) -> Iterator[Row]:
    """Issue 25's light-load row: p50 and p99 at the light rate as multiples of the echo's."""
    latency, echo = light["latency"], light["baseline"]["latency"]
    rate, p50, p99 = light["rate_per_s"], light["p50_ratio"], light["p99_ratio"]
    met = p50 is not None and p99 is not None
    met = met and p50 <= LIGHT_E2E_MAX_P50_RATIO and p99 <= LIGHT_E2E_MAX_P99_RATIO
    yield Row(
        "e2e",
        f"submit→final p50 / p99 at {rate:g}/s vs echo at {rate:g}/s",
        f"{_ms(latency['p50_ms'])} / {_ms(latency['p99_ms'])}",
        f"{_ms(echo['p50_ms'])} / {_ms(echo['p99_ms'])}",
        f"{_times(p50)} / {_times(p99)}",
        f"≤ {LIGHT_E2E_MAX_P50_RATIO:g}x / ≤ {LIGHT_E2E_MAX_P99_RATIO:g}x",
        _verdict(latency["count"] > 0 and met),
    )
    yield from _completion_rows("e2e", light)
    yield from _errors_and_cpu("e2e", light, light["baseline"])


def _stage_rows(scenario: str, result: Result) -> Iterator[Row]:
    """The p50 and p99 of each stage of submit→final (see clients.bench.tracking)."""
    stages = result.get("latency_stages")
    if not stages or not stages["accepted"]["count"]:
        return
    for key, name in (("p50_ms", "p50"), ("p99_ms", "p99")):
        yield Row(
            scenario,
            f"{name} by stage: {' / '.join(STAGES)}",
            " / ".join(f"{stages[stage][key]:,.2f}" for stage in STAGES) + " ms",
        )


def _completion_rows(scenario: str, result: Result) -> Iterator[Row]:
    yield from _abort_rows(scenario, result)
    sent, final = result["sent"], result["final"]
    yield Row(
        scenario,
        "orders final / sent",
        f"{final:,} / {sent:,}",
        target="all",
        status=_verdict(final == sent),
    )
    yield from _split_rows(scenario, result)


def _abort_rows(scenario: str, result: Result) -> Iterator[Row]:
    aborted = result.get("aborted_after_s")
    if aborted is not None:
        yield Row(
            scenario,
            "offered load kept up",
            f"gave up after {aborted:,.1f} s: the server fell behind",
            target=f"{result['duration_s']:g} s",
            status=MISS,
        )


def _split_rows(scenario: str, result: Result) -> Iterator[Row]:
    split = int(result["venues_per_order"].get("3", 0))
    yield Row(
        scenario,
        "orders filled at 3 venues",
        f"{split:,} / {result['accepted']:,}",
        target="every order",
        status=_verdict(split == result["accepted"] and split > 0),
    )


def _sustained_rows(result: Result) -> Iterator[Row]:
    checks, memory = result["checks"], result["memory"]
    rate, achieved = result["rate_per_s"], result["achieved_rate_per_s"]
    if result.get("rate_basis"):
        yield Row("sustained", "offered rate", f"{_rate(rate)}: {result['rate_basis']}")
    yield Row(
        "sustained",
        f"offered → achieved, {result['duration_s']:g} s",
        f"{_rate(rate)} → {_rate(achieved)}",
        target=f"{_rate(rate)} for {result['duration_s']:g} s",
        status=_verdict(achieved >= SUSTAINED_MIN_ACHIEVED * rate),
    )
    yield from _abort_rows("sustained", result)
    refused = f", {checks['not_accepted']:,} refused" if checks["not_accepted"] else ""
    yield Row(
        "sustained",
        "orders final (list + stream) / sent",
        f"{result['final']:,} / {checks['sent']:,}{refused}",
        target="every order final",
        status=_verdict(checks["all_final"] and not checks["not_accepted"]),
    )
    yield _fills_row(checks)
    yield _memory_row(memory, result.get("aborted_after_s"))
    latency, echo = result["latency"], result["baseline"]["latency"]
    yield Row(
        "sustained",
        "submit→final p50/p90/p99/p99.9 (ms)",
        _pcts(latency),
        _pcts(echo),
        _times(result["p50_ratio"]),
    )
    yield from _stage_rows("sustained", result)
    yield from _errors_and_cpu("sustained", result, result["baseline"])


def _fills_row(checks: Result) -> Row:
    stored = f"{checks['stream_trades']:,} fills, qty {checks['store_fill_qty']}"
    venue = checks.get("venue_trades")
    venues = ""
    if venue is not None:
        venues = f"venues: {venue:,} fills, qty {checks['venue_fill_qty']}"
        lag = checks.get("venue_stream_drained_after_s") or 0.0
        if lag >= 1:
            venues += f" (venue reports still coming {lag:,.0f} s after the OMS was done)"
    return Row(
        "sustained",
        "fills stored = fills at venues",
        stored,
        venues or "venues not read (no NATS URL)",
        target="equal, nothing lost",
        status=_verdict(checks["nothing_lost"]),
    )


def _memory_row(memory: Result, aborted_after_s: float | None = None) -> Row:
    """Growth over the run; a run that gave up early measured too little time to pass."""
    start, end, growth = memory["start_bytes"], memory["end_bytes"], memory["growth"]
    if start is None:
        return Row("sustained", "server RSS start → end", "unknown (no server pid)")
    warmup = memory.get("after_warmup_s")
    label = f"server RSS after {warmup:g} s warm-up → end" if warmup else "server RSS start → end"
    value = f"{start / BYTES_PER_MIB:,.0f} → {end / BYTES_PER_MIB:,.0f} MiB ({growth:+.1%})"
    if aborted_after_s is not None:
        value += f" over only {aborted_after_s:,.1f} s"
    return Row(
        "sustained",
        label,
        value,
        target=f"< +{RSS_MAX_GROWTH:.0%}",
        status=_verdict(growth < RSS_MAX_GROWTH and aborted_after_s is None),
    )


def _fanout_rows(result: Result) -> Iterator[Row]:
    count, complete = result["subscribers"], result["subscribers_complete"]
    yield Row(
        "fanout",
        "subscribers with every report",
        f"{complete} / {count} ({result['reports_expected']:,} reports each)",
        target=f"all {count}",
        status=_verdict(complete == count),
    )
    alone, crowded = result["without"], result["with"]
    drop = result["throughput_drop"]
    yield Row(
        "fanout",
        f"submit throughput without → with {count}",
        f"{_rate(alone['throughput_per_s'])} → {_rate(crowded['throughput_per_s'])}"
        + (f" ({-drop:+.0%})" if drop is not None else ""),
        _rate(result["baseline"]["throughput_per_s"]),
        f"{result['throughput_ratio']:.0%}" if result["throughput_ratio"] is not None else "",
        f"drop < {FANOUT_MAX_DROP:.0%}",
        _verdict(drop is not None and drop < FANOUT_MAX_DROP),
    )
    slices = result.get("interleaved_slices")
    if slices:
        yield Row("fanout", "how measured", f"{slices} slices each, without and with alternating")
    yield Row("fanout", "subscriber resumes (slow consumers)", f"{result['reconnects']:,}")
    yield from _errors_and_cpu("fanout", crowded, result["baseline"])


def _errors_and_cpu(scenario: str, result: Result, baseline: Result | None = None) -> Iterator[Row]:
    errors = result.get("errors") or result.get("submit_errors") or {}
    if errors:
        yield Row(scenario, "call errors", ", ".join(f"{k}: {v:,}" for k, v in errors.items()))
    cpu = _cpu(result)
    if cpu:
        yield Row(scenario, "CPU cores: server / client", cpu, _cpu(baseline) if baseline else "")
    yield from _per_order_row(
        scenario, "server CPU per order (ms)", _server_ms_per_call, ".3f", result, baseline
    )
    yield from _per_order_row(
        scenario, "server wake-ups per order", _server_wakeups_per_call, ".1f", result, baseline
    )


def _per_order_row(
    scenario: str,
    figure: str,
    per_call: Callable[[Result], float | None],
    spec: str,
    result: Result,
    baseline: Result | None,
) -> Iterator[Row]:
    """``per_call`` of the run beside the echo's, and their ratio; nothing if unmeasured."""
    value = per_call(result)
    if value is None:
        return
    echo = per_call(baseline) if baseline else None
    yield Row(
        scenario,
        figure,
        format(value, spec),
        f"{format(echo, spec)} per call" if echo is not None else "",
        _times(ratio(value, echo)) if echo is not None else "",
    )


def _server_ms_per_call(result: Result) -> float | None:
    """Server CPU milliseconds per call: the work an order costs, whatever the machine's speed."""
    cores = _per_call(result, "server_cpu_cores")
    return cores * 1000.0 if cores is not None else None


def _server_wakeups_per_call(result: Result) -> float | None:
    """Times the server's threads slept and were woken per call: its hand-offs."""
    return _per_call(result, "server_wakeups_per_s")


def _per_call(result: Result, key: str) -> float | None:
    """``result[key]``, a figure per wall second, divided by the calls (or sends) per second."""
    value = result.get(key)
    rate = result.get("throughput_per_s") or result.get("send_rate_per_s")
    if not value or not rate:
        return None
    return float(value) / float(rate)


def _cpu(result: Result) -> str:
    server, client = result.get("server_cpu_cores"), result.get("client_cpu_cores")
    if server is None and client is None:
        return ""
    return " / ".join(f"{x:.2f}" if x is not None else "?" for x in (server, client))


def _capacity_rows(result: Result) -> Iterator[Row]:
    """The highest passing rate, NautilusTrader's in-process rate beside it, the ratio."""
    rate, best, peer = result["capacity_per_s"], result["at_capacity"], result["peer"]
    capped = " (the last step: more may pass)" if result["limited_by_steps"] else ""
    limit = f"p99 < {result['p99_max_ms']:g} ms, all final"
    value = _rate(rate) + capped if rate else "none of the steps"
    yield Row("capacity", "e2e capacity, 3 venues, one OMS", value, target=limit)
    yield Row("capacity", "NautilusTrader in-process market orders", _peer(peer))
    share = result["peer_ratio"]
    yield Row(
        "capacity",
        "e2e capacity vs NautilusTrader in-process market orders",
        _rate(rate) if rate else "",
        _rate(peer["orders_per_s"]) if peer.get("orders_per_s") else "",
        _times(share),
        f"≥ {CAPACITY_MIN_PEER_RATIO:g}x on one shard",
        _verdict(share >= CAPACITY_MIN_PEER_RATIO) if share is not None else INFO,
    )
    if best is not None:
        yield Row("capacity", "p50/p90/p99/p99.9 (ms) there", _pcts(best["latency"]))
        per_order = ", ".join(f"{k} {v:.2f}" for k, v in best["cpu_ms_per_order"].items())
        yield Row("capacity", "CPU per order there (ms)", per_order)
        yield from _light_load_row(result["steps"][0], best)
    yield Row("capacity", "steps", _steps(result["steps"]))


def _light_load_row(first: Result, best: Result) -> Iterator[Row]:
    """The server's CPU per order at the search's first (lightest) rate beside that at
    capacity: the cost that does not follow the work."""
    light = first["cpu_ms_per_order"].get("server")
    loaded = best["cpu_ms_per_order"].get("server")
    if first["rate_per_s"] >= best["rate_per_s"] or not light or not loaded:
        return
    share = ratio(light, loaded)
    yield Row(
        "capacity",
        f"server CPU per order at {first['rate_per_s']:g}/s vs at capacity",
        f"{light:.3f} vs {loaded:.3f} ms",
        ratio=_times(share),
        target=f"≤ {LIGHT_LOAD_MAX_RATIO:g}x",
        status=_verdict(share is not None and share <= LIGHT_LOAD_MAX_RATIO),
    )


def _peer(peer: Result) -> str:
    if not peer.get("installed"):
        return f"peer: not installed; {peer['hint']}"
    if "error" in peer:
        return f"peer failed: {peer['error']}"
    return (
        f"{_rate(peer['orders_per_s'])} ({peer['filled']:,} filled, "
        f"{peer['cpu_ms_per_order']:.3f} ms CPU each; nautilus_trader {peer['version']})"
    )


def _steps(steps: list[Result]) -> str:
    return ", ".join(
        f"{s['rate_per_s']:g}/s p99 {s['latency']['p99_ms']:.0f} ms{'' if s['passed'] else ' MISS'}"
        for s in steps
    )


def _shards_rows(result: Result) -> Iterator[Row]:
    """Per layout: the rate it sustains (p99 under the limit, all final), the latency and
    the CPU per order of each kind of process there, and the steps that led to it."""
    limit = f"p99 < {result['p99_max_ms']:g} ms, all final"
    for count, layout in result["layouts"].items():
        name = f"shards={count}"
        if "error" in layout:
            yield Row(name, "run failed", str(layout["error"])[:200], status=ERROR)
            continue
        best = layout["at_sustained_rate"]
        rate = layout["sustained_rate_per_s"]
        capped = " (the last step: more may pass)" if layout["limited_by_steps"] else ""
        value = _rate(rate) + capped if rate else "none of the steps"
        yield Row(name, f"sustained rate, {len(layout['accounts'])} accounts", value, "", "", limit)
        if best is not None:
            yield Row(name, "p50/p90/p99/p99.9 (ms) there", _pcts(best["latency"]))
            for figure, key in (
                ("CPU per order (ms)", "cpu_ms_per_order_by_kind"),
                ("the same beyond idle (ms)", "marginal_cpu_ms_per_order_by_kind"),
            ):
                kinds = best[key]
                yield Row(name, figure, ", ".join(f"{k} {v:.2f}" for k, v in kinds.items()))
        yield Row(name, "steps", _steps(layout["steps"]))


_BUILDERS: dict[str, Callable[[Result], Iterator[Row]]] = {
    "baseline": _baseline_rows,
    "submit": _submit_rows,
    "stream-submit": _stream_submit_rows,
    "fix": _fix_rows,
    "e2e": _e2e_rows,
    "capacity": _capacity_rows,
    "sustained": _sustained_rows,
    "fanout": _fanout_rows,
    "shards": _shards_rows,
}

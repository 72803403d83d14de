"""The scenario file (TOML): the simulated market of one run.

A strict parser: an unknown key or a bad value raises :class:`ScenarioError`, whose
message names the key path (``venues[1].faults.reject_rate: must be between 0 and 1``).
Prices, sizes, fees and increments are decimal *strings* (a TOML float is refused:
it is binary floating point, so not exact).

Keys (``*`` required; the rest have the default shown)::

    seed = 0                         # int >= 0, seeds every random choice of the run
    liquidity = "static"             # "static" or "random_walk"

    [market]                         # optional table
    book_depth = 5                   # price levels each venue publishes per side
    mm_step_ms = 200                 # random-walk market-maker step interval (ms, > 0)
    md_throttle_ms = 20              # least gap between book updates of a symbol (ms)

    [session]                        # optional table: when the market is open, every day
    timezone = "UTC"                 # any IANA name, e.g. "America/New_York"
    open = "00:00"                   # "HH:MM" or "HH:MM:SS", local to timezone
    close = "23:59:59"               # DAY orders expire here; at or before open: next day

    [[instruments]]                  # * at least one
    symbol = "AAPL"                  # * ^[A-Z0-9_-]{1,16}$, unique
    tick_size = "0.01"               # * > 0
    lot_size = "1"                   # * > 0
    reference_price = "190.00"       # * > 0, on the tick

    [[venues]]                       # * at least one
    name = "ALPHA"                   # * ^[A-Z][A-Z0-9_]{0,31}$ (goes into NATS subjects), unique
    taker_fee_bps = "0"              # charged on the notional of each taking fill (-100..100)
    maker_rebate_bps = "0"           # paid on the notional of each resting fill (-100..100)
    latency_ms = 0.0                 # one-way delay the venue adds (0..10000)
    dark = false                     # a dark venue publishes no market data
    capabilities = []                # order types the venue keeps itself: "iceberg"
                                     # (the OMS sends one child with display_quantity
                                     # rather than managing slices), "peg" (one child
                                     # with peg_type, re-priced by the venue); simulators only
    protocol = "nats"                # "nats": a simulator on NATS (started by `oms up`);
                                     # "fix": a FIX 4.4 acceptor the OMS logs on to as an
                                     # initiator (venues.fix); it has no simulator, so no
                                     # faults or books, and gives no market data
    [venues.fix]                     # * when protocol = "fix", refused otherwise
    host = "127.0.0.1"               # *
    port = 9878                      # * 1..65535
    sender_comp_id = "OMS"           # * the OMS's CompID on the session
    target_comp_id = "EXEC"          # * the venue's CompID
    heartbeat_s = 5                  # HeartBtInt (1..300)
    [venues.faults]                  # optional table; each a share in [0, 1]
    reject_rate = 0.0
    drop_rate = 0.0
    duplicate_exec_rate = 0.0
    [[venues.books]]                 # starting book, at most one per known symbol
    symbol = "AAPL"                  # *
    bids = [["189.99", "500"]]       # [price, size] levels, prices strictly descending
    asks = [["190.01", "300"]]       # prices strictly ascending; best bid < best ask

Prices must sit on the instrument's tick and sizes on its lot.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar, cast, get_args

from oms_server.domain.decimals import fmt, parse_decimal
from oms_server.domain.errors import ValidationError
from oms_server.domain.instruments import Instrument
from oms_server.domain.session import (
    DEFAULT_CLOSE,
    DEFAULT_OPEN,
    DEFAULT_TIMEZONE,
    TradingSession,
    parse_clock_time,
)
from router.book import VenueCapability
from venues.sim.faults import FAULT_RATE_NAMES, FaultConfig
from venues.sim.order_book import PriceLevel

#: How a scenario's books move: they stay as seeded, or a seeded market maker walks them.
LiquidityModel = Literal["static", "random_walk"]

#: Package and file name of the bundled default scenario.
DEFAULT_SCENARIO_PACKAGE = "venues.scenarios"
DEFAULT_SCENARIO_FILE = "default.toml"

DEFAULT_SEED = 0
DEFAULT_LIQUIDITY_MODEL: LiquidityModel = "static"
DEFAULT_BOOK_DEPTH = 5
DEFAULT_MM_STEP_MS = 200.0
DEFAULT_MD_THROTTLE_MS = 20.0

MAX_SEED = 2**64 - 1
MAX_BOOK_DEPTH = 50
#: Most levels a starting book may give per side.
MAX_BOOK_LEVELS = 1_000
#: Largest absolute fee or rebate, in basis points (1%).
MAX_ABS_FEE_BPS = Decimal(100)
#: Largest latency, step or throttle interval accepted, in milliseconds.
MAX_INTERVAL_MS = 10_000.0

VENUE_NAME_RE = re.compile(r"[A-Z][A-Z0-9_]{0,31}")
SYMBOL_RE = re.compile(r"[A-Z0-9_-]{1,16}")

_T = TypeVar("_T")
Table = dict[str, Any]


class ScenarioError(ValueError):
    """A scenario that cannot be used; names the file and the offending key path."""

    def __init__(self, path: str, description: str, source: str = "") -> None:
        self.path = path
        self.description = description
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        key = f"{self.path}: " if self.path else ""
        return f"scenario: {where}{key}{self.description}"


@dataclass(frozen=True, slots=True)
class BookConfig:
    """The starting book of one symbol at one venue, best level first on each side."""

    symbol: str
    bids: tuple[PriceLevel, ...]
    asks: tuple[PriceLevel, ...]


#: How the OMS talks to a venue: the venue.v1 protocol over NATS, or FIX 4.4.
VenueProtocol = Literal["nats", "fix"]
DEFAULT_FIX_HEARTBEAT_S = 5
MAX_FIX_HEARTBEAT_S = 300
COMP_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}")


@dataclass(frozen=True, slots=True)
class FixEndpoint:
    """Where a FIX venue accepts the OMS's session, and the session's CompIDs."""

    host: str
    port: int
    sender_comp_id: str
    target_comp_id: str
    heartbeat_s: int = DEFAULT_FIX_HEARTBEAT_S


@dataclass(frozen=True, slots=True)
class VenueConfig:
    """One venue: its fees, latency, faults and starting books (simulated venues), or
    its FIX endpoint (``protocol == "fix"``)."""

    name: str
    taker_fee_bps: Decimal
    maker_rebate_bps: Decimal
    latency_ms: float
    faults: FaultConfig
    books: tuple[BookConfig, ...]
    dark: bool = False
    protocol: VenueProtocol = "nats"
    fix: FixEndpoint | None = None
    capabilities: frozenset[VenueCapability] = frozenset()

    def book(self, symbol: str) -> BookConfig | None:
        """The starting book of ``symbol``, or None when the venue starts empty."""
        return next((book for book in self.books if book.symbol == symbol), None)


@dataclass(frozen=True, slots=True)
class MarketConfig:
    """Market-wide simulator settings (the optional ``[market]`` table)."""

    book_depth: int = DEFAULT_BOOK_DEPTH
    mm_step_ms: float = DEFAULT_MM_STEP_MS
    md_throttle_ms: float = DEFAULT_MD_THROTTLE_MS


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole simulated market: instruments, venues and how liquidity moves."""

    seed: int
    liquidity: LiquidityModel
    instruments: tuple[Instrument, ...]
    venues: tuple[VenueConfig, ...]
    market: MarketConfig = field(default_factory=MarketConfig)
    session: TradingSession = field(default_factory=TradingSession)

    def venue(self, name: str) -> VenueConfig:
        """The venue named ``name``; KeyError if there is none."""
        for venue in self.venues:
            if venue.name == name:
                return venue
        raise KeyError(name)


def load_scenario(path: str | Path | None) -> Scenario:
    """Read and parse a scenario file; None loads the bundled default."""
    if path is None:
        source = f"<bundled {DEFAULT_SCENARIO_FILE}>"
        resource = resources.files(DEFAULT_SCENARIO_PACKAGE).joinpath(DEFAULT_SCENARIO_FILE)
        return parse_scenario(resource.read_text(encoding="utf-8"), source)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError("", f"cannot read the file: {exc}", str(path)) from exc
    return parse_scenario(text, str(path))


def parse_scenario(text: str, source: str) -> Scenario:
    """Parse scenario TOML ``text``; ``source`` (a file name) prefixes every error."""
    try:
        return _scenario(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError("", f"invalid TOML: {exc}", source) from exc
    except ScenarioError as exc:
        raise ScenarioError(exc.path, exc.description, source) from exc


# -- the tables, top-down ---------------------------------------------------------------

_TOP_KEYS = frozenset({"seed", "liquidity", "market", "session", "instruments", "venues"})
_MARKET_KEYS = frozenset({"book_depth", "mm_step_ms", "md_throttle_ms"})
_SESSION_KEYS = frozenset({"timezone", "open", "close"})
_INSTRUMENT_KEYS = frozenset({"symbol", "tick_size", "lot_size", "reference_price"})
_VENUE_KEYS = frozenset(
    {
        "name",
        "taker_fee_bps",
        "maker_rebate_bps",
        "latency_ms",
        "dark",
        "faults",
        "books",
        "protocol",
        "fix",
        "capabilities",
    }
)
_FIX_KEYS = frozenset({"host", "port", "sender_comp_id", "target_comp_id", "heartbeat_s"})
#: What only a simulated venue has.
_SIMULATOR_KEYS = ("faults", "books", "dark", "capabilities")
_FAULT_KEYS = frozenset(FAULT_RATE_NAMES)
_BOOK_KEYS = frozenset({"symbol", "bids", "asks"})


def _scenario(doc: Table) -> Scenario:
    _check_keys(doc, "", _TOP_KEYS)
    seed = _int(doc, "", "seed", DEFAULT_SEED, 0, MAX_SEED)
    liquidity = _choice(doc, "", "liquidity", DEFAULT_LIQUIDITY_MODEL, get_args(LiquidityModel))
    market = _market(doc.get("market", {}), "market")
    session = _session(doc.get("session", {}), "session")
    instruments = _unique(
        (_instrument(t, p) for t, p in _tables(doc, "", "instruments", required=True)),
        lambda i: i.symbol,
        "symbol",
        "instruments",
    )
    known = {instrument.symbol: instrument for instrument in instruments}
    venues = _unique(
        (_venue(t, p, known) for t, p in _tables(doc, "", "venues", required=True)),
        lambda v: v.name,
        "name",
        "venues",
    )
    return Scenario(seed, liquidity, instruments, venues, market, session)


def _market(table: object, path: str) -> MarketConfig:
    table = _as_table(table, path)
    _check_keys(table, path, _MARKET_KEYS)
    return MarketConfig(
        book_depth=_int(table, path, "book_depth", DEFAULT_BOOK_DEPTH, 1, MAX_BOOK_DEPTH),
        mm_step_ms=_number(table, path, "mm_step_ms", DEFAULT_MM_STEP_MS, positive=True),
        md_throttle_ms=_number(table, path, "md_throttle_ms", DEFAULT_MD_THROTTLE_MS),
    )


def _session(table: object, path: str) -> TradingSession:
    table = _as_table(table, path)
    _check_keys(table, path, _SESSION_KEYS)
    timezone = _str(table, path, "timezone") if "timezone" in table else DEFAULT_TIMEZONE
    opens = _clock_time(table, path, "open", DEFAULT_OPEN)
    closes = _clock_time(table, path, "close", DEFAULT_CLOSE)
    try:
        return TradingSession(timezone, opens, closes)
    except ValueError as exc:
        raise ScenarioError(_key(path, "timezone"), str(exc)) from exc


def _instrument(table: Table, path: str) -> Instrument:
    _check_keys(table, path, _INSTRUMENT_KEYS)
    symbol = _name(table, path, "symbol", SYMBOL_RE)
    tick_size = _decimal(table, path, "tick_size", positive=True)
    lot_size = _decimal(table, path, "lot_size", positive=True)
    reference_price = _decimal(table, path, "reference_price")
    instrument = Instrument(symbol, tick_size, lot_size, reference_price)
    _validated(instrument.check_price, reference_price, _key(path, "reference_price"))
    return instrument


def _venue(table: Table, path: str, known: dict[str, Instrument]) -> VenueConfig:
    _check_keys(table, path, _VENUE_KEYS)
    name = _name(table, path, "name", VENUE_NAME_RE)
    taker_fee_bps = _fee(table, path, "taker_fee_bps")
    maker_rebate_bps = _fee(table, path, "maker_rebate_bps")
    latency_ms = _number(table, path, "latency_ms", 0.0)
    dark = _bool(table, path, "dark", False)
    protocol = _choice(table, path, "protocol", "nats", get_args(VenueProtocol))
    if protocol == "fix":
        for key in _SIMULATOR_KEYS:
            if key in table:
                raise ScenarioError(_key(path, key), "a FIX venue is not simulated")
        endpoint = _fix(_required(table, path, "fix"), _key(path, "fix"))
        return VenueConfig(
            name,
            taker_fee_bps,
            maker_rebate_bps,
            latency_ms,
            FaultConfig(),
            (),
            dark=True,
            protocol="fix",
            fix=endpoint,
        )
    if "fix" in table:
        raise ScenarioError(_key(path, "fix"), 'only for protocol = "fix"')
    faults = _faults(table.get("faults", {}), _key(path, "faults"))
    books = _unique(
        (_book(t, p, known) for t, p in _tables(table, path, "books")),
        lambda b: b.symbol,
        "symbol",
        _key(path, "books"),
    )
    capabilities = _capabilities(table, path, "capabilities")
    return VenueConfig(
        name,
        taker_fee_bps,
        maker_rebate_bps,
        latency_ms,
        faults,
        books,
        dark,
        capabilities=capabilities,
    )


def _capabilities(table: Table, path: str, key: str) -> frozenset[VenueCapability]:
    value = table.get(key, [])
    known = [c.value for c in VenueCapability]
    if not isinstance(value, list) or any(item not in known for item in value):
        allowed = ", ".join(repr(name) for name in known)
        raise ScenarioError(_key(path, key), f"must be a list of {allowed}, not {value!r}")
    return frozenset(VenueCapability(item) for item in value)


def _fix(table: object, path: str) -> FixEndpoint:
    table = _as_table(table, path)
    _check_keys(table, path, _FIX_KEYS)
    host = _str(table, path, "host")
    if not host:
        raise ScenarioError(_key(path, "host"), "must not be empty")
    _required(table, path, "port")
    return FixEndpoint(
        host=host,
        port=_int(table, path, "port", 0, 1, 65535),
        sender_comp_id=_name(table, path, "sender_comp_id", COMP_ID_RE),
        target_comp_id=_name(table, path, "target_comp_id", COMP_ID_RE),
        heartbeat_s=_int(
            table, path, "heartbeat_s", DEFAULT_FIX_HEARTBEAT_S, 1, MAX_FIX_HEARTBEAT_S
        ),
    )


def _faults(table: object, path: str) -> FaultConfig:
    table = _as_table(table, path)
    _check_keys(table, path, _FAULT_KEYS)
    return FaultConfig(**{key: _rate(table, path, key) for key in FAULT_RATE_NAMES if key in table})


def _book(table: Table, path: str, known: dict[str, Instrument]) -> BookConfig:
    _check_keys(table, path, _BOOK_KEYS)
    symbol = _str(table, path, "symbol")
    instrument = known.get(symbol)
    if instrument is None:
        raise ScenarioError(_key(path, "symbol"), f"unknown instrument {symbol!r}")
    bids = _levels(table, path, "bids", instrument, descending=True)
    asks = _levels(table, path, "asks", instrument, descending=False)
    if bids and asks and bids[0][0] >= asks[0][0]:
        raise ScenarioError(
            path, f"crossed book: best bid {fmt(bids[0][0])} >= best ask {fmt(asks[0][0])}"
        )
    return BookConfig(symbol, bids, asks)


def _levels(
    table: Table, path: str, key: str, instrument: Instrument, *, descending: bool
) -> tuple[PriceLevel, ...]:
    side_path = _key(path, key)
    raw = table.get(key, [])
    if not isinstance(raw, list) or len(raw) > MAX_BOOK_LEVELS:
        raise ScenarioError(
            side_path, f"must be an array of at most {MAX_BOOK_LEVELS} [price, size] pairs"
        )
    levels = tuple(_level(item, f"{side_path}[{i}]", instrument) for i, item in enumerate(raw))
    rule = "bid prices must be strictly descending"
    if not descending:
        rule = "ask prices must be strictly ascending"
    for i in range(1, len(levels)):
        previous, price = levels[i - 1][0], levels[i][0]
        if not (price < previous if descending else price > previous):
            raise ScenarioError(f"{side_path}[{i}][0]", rule)
    return levels


def _level(item: object, path: str, instrument: Instrument) -> PriceLevel:
    if not isinstance(item, list) or len(item) != 2:
        raise ScenarioError(path, 'must be a [price, size] pair such as ["190.01", "300"]')
    price = _decimal_value(item[0], f"{path}[0]")
    size = _decimal_value(item[1], f"{path}[1]")
    _validated(instrument.check_price, price, f"{path}[0]")
    _validated(instrument.check_quantity, size, f"{path}[1]")
    return price, size


# -- typed getters: each names the key path in its error ------------------------------


def _key(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _check_keys(table: Table, path: str, allowed: frozenset[str]) -> None:
    for key in table:
        if key not in allowed:
            expected = ", ".join(sorted(allowed))
            raise ScenarioError(_key(path, key), f"unknown key (expected one of: {expected})")


def _as_table(value: object, path: str) -> Table:
    if not isinstance(value, dict):
        raise ScenarioError(path, "must be a table")
    return cast(Table, value)


def _tables(
    table: Table, path: str, key: str, *, required: bool = False
) -> list[tuple[Table, str]]:
    """The array of tables at ``key`` with the path of each element."""
    array_path = _key(path, key)
    raw = table.get(key)
    if raw is None:
        if required:
            raise ScenarioError(array_path, "is required (at least one entry)")
        return []
    if not isinstance(raw, list) or (required and not raw):
        kind = "a non-empty array" if required else "an array"
        raise ScenarioError(array_path, f"must be {kind} of tables ([[{key}]])")
    return [
        (_as_table(item, f"{array_path}[{i}]"), f"{array_path}[{i}]") for i, item in enumerate(raw)
    ]


def _unique(
    items: Iterable[_T], key_of: Callable[[_T], str], field_name: str, path: str
) -> tuple[_T, ...]:
    seen: set[str] = set()
    result = []
    for i, item in enumerate(items):
        key = key_of(item)
        if key in seen:
            raise ScenarioError(f"{path}[{i}].{field_name}", f"duplicate {field_name} {key!r}")
        seen.add(key)
        result.append(item)
    return tuple(result)


def _required(table: Table, path: str, key: str) -> object:
    if key not in table:
        raise ScenarioError(_key(path, key), "is required")
    return table[key]


def _str(table: Table, path: str, key: str) -> str:
    value = _required(table, path, key)
    if not isinstance(value, str):
        raise ScenarioError(_key(path, key), "must be a string")
    return value


def _name(table: Table, path: str, key: str, pattern: re.Pattern[str]) -> str:
    value = _str(table, path, key)
    if not pattern.fullmatch(value):
        raise ScenarioError(_key(path, key), f"{value!r} does not match ^{pattern.pattern}$")
    return value


def _choice(table: Table, path: str, key: str, default: _T, choices: tuple[_T, ...]) -> _T:
    value = table.get(key, default)
    if value not in choices:
        allowed = ", ".join(repr(choice) for choice in choices)
        raise ScenarioError(_key(path, key), f"must be one of {allowed}, not {value!r}")
    return cast(_T, value)


def _bool(table: Table, path: str, key: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ScenarioError(_key(path, key), "must be true or false")
    return value


def _clock_time(table: Table, path: str, key: str, default: time) -> time:
    if key not in table:
        return default
    value = table[key]
    if not isinstance(value, str):
        raise ScenarioError(_key(path, key), 'must be a string "HH:MM" or "HH:MM:SS"')
    try:
        return parse_clock_time(value)
    except ValueError as exc:
        raise ScenarioError(_key(path, key), str(exc)) from exc


def _int(table: Table, path: str, key: str, default: int, low: int, high: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(_key(path, key), "must be an integer")
    if not low <= value <= high:
        raise ScenarioError(_key(path, key), f"must be between {low} and {high}")
    return value


def _number(table: Table, path: str, key: str, default: float, *, positive: bool = False) -> float:
    """A finite non-negative (or positive) number of milliseconds up to MAX_INTERVAL_MS."""
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(_key(path, key), "must be a finite number")
    if not 0 <= value <= MAX_INTERVAL_MS or (positive and value == 0):
        low = "greater than 0" if positive else "at least 0"
        raise ScenarioError(_key(path, key), f"must be {low} and at most {MAX_INTERVAL_MS:g}")
    return float(value)


def _rate(table: Table, path: str, key: str) -> float:
    """The share in [0, 1] at ``key``, which the table holds (defaults are FaultConfig's)."""
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(_key(path, key), "must be a number between 0 and 1")
    if not 0 <= value <= 1:
        raise ScenarioError(_key(path, key), "must be between 0 and 1")
    return float(value)


def _fee(table: Table, path: str, key: str) -> Decimal:
    value = _decimal(table, path, key, default="0")
    if abs(value) > MAX_ABS_FEE_BPS:
        raise ScenarioError(
            _key(path, key), f"must be between -{MAX_ABS_FEE_BPS} and {MAX_ABS_FEE_BPS} bps"
        )
    return value


def _decimal(
    table: Table, path: str, key: str, *, positive: bool = False, default: str | None = None
) -> Decimal:
    raw = table.get(key, default) if default is not None else _required(table, path, key)
    value = _decimal_value(raw, _key(path, key))
    if positive and value <= 0:
        raise ScenarioError(_key(path, key), "must be greater than zero")
    return value


def _decimal_value(raw: object, path: str) -> Decimal:
    if not isinstance(raw, str):
        kind = "a float (inexact)" if isinstance(raw, float) else type(raw).__name__
        raise ScenarioError(path, f'must be a decimal string such as "190.25", not {kind}')
    value = _validated(parse_decimal, raw, path)
    assert value is not None
    return value


def _validated(check: Callable[[Any, str], _T], value: Any, path: str) -> _T:
    """Run a domain check and turn its ValidationError into a ScenarioError at ``path``."""
    try:
        return check(value, path)
    except ValidationError as exc:
        raise ScenarioError(path, exc.description) from exc

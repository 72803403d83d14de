"""The scenario parser: the CONTRACT example, the bundled default and every refusal."""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from pathlib import Path

import pytest

from oms_server.domain.instruments import Instrument
from oms_server.domain.session import TradingSession
from router.book import VenueCapability
from venues.scenario import (
    BookConfig,
    MarketConfig,
    Scenario,
    ScenarioError,
    VenueConfig,
    load_scenario,
    parse_scenario,
)
from venues.sim.faults import FaultConfig

#: The example of CONTRACT.md, "Scenario file (TOML)", verbatim.
CONTRACT_EXAMPLE = """\
seed = 42
liquidity = "static"            # or "random_walk": a seeded market maker moves the books

[[instruments]]
symbol = "AAPL"
tick_size = "0.01"
lot_size = "1"
reference_price = "190.00"

[[venues]]
name = "ALPHA"
taker_fee_bps = "0.30"          # charged on the notional of each taking fill
maker_rebate_bps = "0.20"       # paid on the notional of each resting fill
latency_ms = 0.5                # one-way delay the venue adds
[venues.faults]
reject_rate = 0.0               # share of new orders rejected
drop_rate = 0.0                 # share of outgoing messages lost
duplicate_exec_rate = 0.0       # share of execution reports sent twice

[[venues.books]]                # the starting book of this venue, per symbol
symbol = "AAPL"
bids = [["189.99", "500"], ["189.98", "1000"]]
asks = [["190.01", "300"], ["190.02", "800"]]
"""

SECOND_VENUE = """
[[venues]]
name = "{name}"
"""

SECOND_INSTRUMENT = """
[[instruments]]
symbol = "{symbol}"
tick_size = "0.01"
lot_size = "1"
reference_price = "100.00"
"""

BOOK_SYMBOL_LINE = 'symbol = "AAPL"\nbids'


def D(text: str) -> Decimal:
    return Decimal(text)


def test_contract_example_parses_to_exact_values() -> None:
    scenario = parse_scenario(CONTRACT_EXAMPLE, "contract.toml")

    assert scenario == Scenario(
        seed=42,
        liquidity="static",
        instruments=(Instrument("AAPL", D("0.01"), D("1"), D("190.00")),),
        venues=(
            VenueConfig(
                name="ALPHA",
                taker_fee_bps=D("0.30"),
                maker_rebate_bps=D("0.20"),
                latency_ms=0.5,
                faults=FaultConfig(reject_rate=0.0, drop_rate=0.0, duplicate_exec_rate=0.0),
                books=(
                    BookConfig(
                        symbol="AAPL",
                        bids=((D("189.99"), D("500")), (D("189.98"), D("1000"))),
                        asks=((D("190.01"), D("300")), (D("190.02"), D("800"))),
                    ),
                ),
                dark=False,
            ),
        ),
        market=MarketConfig(book_depth=5, mm_step_ms=200.0, md_throttle_ms=20.0),
    )
    price, size = scenario.venues[0].books[0].bids[0]
    assert (type(price), type(size)) == (Decimal, Decimal)
    assert str(price) == "189.99"


def test_optional_keys_parse() -> None:
    text = (
        CONTRACT_EXAMPLE.replace('name = "ALPHA"', 'name = "ALPHA"\ndark = true')
        + "\n[market]\nbook_depth = 3\nmm_step_ms = 50\nmd_throttle_ms = 0\n"
    )

    scenario = parse_scenario(text, "t")

    assert scenario.market == MarketConfig(book_depth=3, mm_step_ms=50.0, md_throttle_ms=0.0)
    assert scenario.venue("ALPHA").dark is True
    assert scenario.venue("ALPHA").capabilities == frozenset()


def test_venue_capabilities_parse() -> None:
    text = CONTRACT_EXAMPLE.replace('name = "ALPHA"', 'name = "ALPHA"\ncapabilities = ["iceberg"]')

    scenario = parse_scenario(text, "t")

    assert scenario.venue("ALPHA").capabilities == frozenset({VenueCapability.ICEBERG})


def test_defaults_for_omitted_keys() -> None:
    text = SECOND_INSTRUMENT.format(symbol="X") + SECOND_VENUE.format(name="V")

    scenario = parse_scenario(text, "t")

    assert (scenario.seed, scenario.liquidity) == (0, "static")
    venue = scenario.venue("V")
    assert (venue.taker_fee_bps, venue.maker_rebate_bps, venue.latency_ms) == (0, 0, 0.0)
    assert venue.faults == FaultConfig()
    assert venue.books == ()
    assert venue.book("X") is None


def test_default_scenario_loads() -> None:
    scenario = load_scenario(None)

    assert scenario.liquidity == "random_walk"
    assert [v.name for v in scenario.venues] == ["ALPHA", "BRAVO", "CHARLIE"]
    assert {"AAPL", "MSFT", "TSLA", "SPY"} <= {i.symbol for i in scenario.instruments}
    assert len({(v.taker_fee_bps, v.maker_rebate_bps, v.latency_ms) for v in scenario.venues}) == 3
    assert all(0 < v.latency_ms <= 2.0 for v in scenario.venues)
    assert all(v.faults == FaultConfig() for v in scenario.venues)
    native = {v.name: v.capabilities for v in scenario.venues if v.capabilities}
    assert native == {"ALPHA": {VenueCapability.ICEBERG, VenueCapability.PEG}}  # others: OMS


def test_default_scenario_books_are_full_and_not_crossed_across_venues() -> None:
    scenario = load_scenario(None)

    for instrument in scenario.instruments:
        books = [venue.book(instrument.symbol) for venue in scenario.venues]
        assert all(book is not None and len(book.bids) == len(book.asks) == 5 for book in books)
        best_bids = {book.bids[0][0] for book in books if book}
        best_asks = {book.asks[0][0] for book in books if book}
        assert max(best_bids) < min(best_asks)
        assert len(best_bids) > 1 or len(best_asks) > 1, "venues should quote differently"


def test_load_scenario_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(CONTRACT_EXAMPLE, encoding="utf-8")

    assert load_scenario(path) == parse_scenario(CONTRACT_EXAMPLE, "x")
    assert load_scenario(str(path)).seed == 42


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"

    with pytest.raises(ScenarioError, match="cannot read the file") as info:
        load_scenario(missing)

    assert str(missing) in str(info.value)


def test_error_names_source_and_has_fixed_prefix() -> None:
    text = CONTRACT_EXAMPLE.replace("reject_rate = 0.0", "reject_rate = 1.5")

    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "mine.toml")

    assert isinstance(info.value, ValueError)
    assert str(info.value) == (
        "scenario: mine.toml: venues[0].faults.reject_rate: must be between 0 and 1"
    )


def _replace(old: str, new: str) -> str:
    assert old in CONTRACT_EXAMPLE, old
    return CONTRACT_EXAMPLE.replace(old, new, 1)


BROKEN = [
    # unknown key at each level
    ("top", 'colour = "red"\n' + CONTRACT_EXAMPLE, "colour", "unknown key"),
    ("market", CONTRACT_EXAMPLE + "\n[market]\ncolour = 1\n", "market.colour", "unknown key"),
    (
        "instrument",
        _replace('lot_size = "1"', 'lot_size = "1"\ncolour = "red"'),
        "instruments[0].colour",
        "unknown key",
    ),
    (
        "venue",
        _replace('name = "ALPHA"', 'name = "ALPHA"\ncolour = "red"'),
        "venues[0].colour",
        "unknown key",
    ),
    (
        "faults",
        _replace("drop_rate = 0.0", "drop_rate = 0.0\ncolour = 0.1"),
        "venues[0].faults.colour",
        "unknown key",
    ),
    (
        "book",
        _replace(BOOK_SYMBOL_LINE, 'colour = "red"\n' + BOOK_SYMBOL_LINE),
        "venues[0].books[0].colour",
        "unknown key",
    ),
    # exactness: floats are refused for decimals
    (
        "float price",
        _replace('[["189.99", "500"]', '[[189.99, "500"]'),
        "venues[0].books[0].bids[0][0]",
        "float",
    ),
    (
        "float size",
        _replace('["190.02", "800"]', '["190.02", 800.0]'),
        "venues[0].books[0].asks[1][1]",
        "float",
    ),
    ("float fee", _replace('"0.30"', "0.30"), "venues[0].taker_fee_bps", "float"),
    ("float tick", _replace('"0.01"', "0.01"), "instruments[0].tick_size", "float"),
    (
        "not a decimal",
        _replace('"190.00"', '"190,00"'),
        "instruments[0].reference_price",
        "not a decimal",
    ),
    # increments and ordering
    (
        "off-tick price",
        _replace('"189.98"', '"189.985"'),
        "venues[0].books[0].bids[1][0]",
        "tick size",
    ),
    (
        "off-lot size",
        _replace('"1000"', '"1000.5"'),
        "venues[0].books[0].bids[1][1]",
        "lot size",
    ),
    (
        "off-tick reference price",
        _replace('"190.00"', '"190.001"'),
        "instruments[0].reference_price",
        "tick size",
    ),
    ("zero tick", _replace('"0.01"', '"0"'), "instruments[0].tick_size", "greater than zero"),
    (
        "zero size",
        _replace('"300"', '"0"'),
        "venues[0].books[0].asks[0][1]",
        "greater than zero",
    ),
    (
        "bids not descending",
        _replace('"189.98"', '"190.00"'),
        "venues[0].books[0].bids[1][0]",
        "strictly descending",
    ),
    (
        "asks not ascending",
        _replace('"190.02"', '"190.01"'),
        "venues[0].books[0].asks[1][0]",
        "strictly ascending",
    ),
    ("crossed book", _replace('"190.01"', '"189.99"'), "venues[0].books[0]", "crossed"),
    (
        "bad level",
        _replace('["190.01", "300"]', '["190.01"]'),
        "venues[0].books[0].asks[0]",
        "[price, size]",
    ),
    # rates and numbers
    (
        "reject_rate 1.5",
        _replace("reject_rate = 0.0", "reject_rate = 1.5"),
        "venues[0].faults.reject_rate",
        "between 0 and 1",
    ),
    (
        "negative drop_rate",
        _replace("drop_rate = 0.0", "drop_rate = -0.1"),
        "venues[0].faults.drop_rate",
        "between 0 and 1",
    ),
    (
        "bool rate",
        _replace("duplicate_exec_rate = 0.0", "duplicate_exec_rate = true"),
        "venues[0].faults.duplicate_exec_rate",
        "number",
    ),
    ("negative latency", _replace("0.5 ", "-1.0"), "venues[0].latency_ms", "at least 0"),
    ("nan latency", _replace("0.5 ", "nan"), "venues[0].latency_ms", "finite"),
    ("huge fee", _replace('"0.30"', '"250"'), "venues[0].taker_fee_bps", "between"),
    ("seed type", _replace("seed = 42", 'seed = "42"'), "seed", "integer"),
    ("negative seed", _replace("seed = 42", "seed = -1"), "seed", "between"),
    ("liquidity", _replace('"static"', '"chaotic"'), "liquidity", "must be one of"),
    (
        "book_depth 0",
        CONTRACT_EXAMPLE + "\n[market]\nbook_depth = 0\n",
        "market.book_depth",
        "between 1",
    ),
    (
        "mm_step_ms 0",
        CONTRACT_EXAMPLE + "\n[market]\nmm_step_ms = 0\n",
        "market.mm_step_ms",
        "greater than 0",
    ),
    ("dark type", _replace('name = "ALPHA"', 'name = "ALPHA"\ndark = 1'), "venues[0].dark", "true"),
    # names and references
    (
        "duplicate venue",
        CONTRACT_EXAMPLE + SECOND_VENUE.format(name="ALPHA"),
        "venues[1].name",
        "duplicate name 'ALPHA'",
    ),
    (
        "duplicate symbol",
        _replace("[[venues]]", SECOND_INSTRUMENT.format(symbol="AAPL") + "\n[[venues]]"),
        "instruments[1].symbol",
        "duplicate symbol 'AAPL'",
    ),
    (
        "duplicate book",
        CONTRACT_EXAMPLE + '\n[[venues.books]]\nsymbol = "AAPL"\n',
        "venues[0].books[1].symbol",
        "duplicate symbol",
    ),
    ("lower-case venue", _replace('"ALPHA"', '"alpha"'), "venues[0].name", "does not match"),
    ("dotted venue", _replace('"ALPHA"', '"AL.PHA"'), "venues[0].name", "does not match"),
    ("venue too long", _replace('"ALPHA"', '"A' + "B" * 32 + '"'), "venues[0].name", "match"),
    ("bad symbol", _replace('"AAPL"', '"aapl"'), "instruments[0].symbol", "does not match"),
    (
        "book for unknown symbol",
        _replace(BOOK_SYMBOL_LINE, 'symbol = "MSFT"\nbids'),
        "venues[0].books[0].symbol",
        "unknown instrument 'MSFT'",
    ),
    ("missing name", _replace('name = "ALPHA"', ""), "venues[0].name", "is required"),
    ("no venues", CONTRACT_EXAMPLE.split("[[venues]]")[0], "venues", "is required"),
    (
        "venues not an array",
        _replace("[[venues]]", "[venues]").split("[venues.faults]")[0],
        "venues",
        "array of tables",
    ),
    (
        "unknown capability",
        _replace('name = "ALPHA"', 'name = "ALPHA"\ncapabilities = ["hidden"]'),
        "venues[0].capabilities",
        "must be a list of 'iceberg'",
    ),
    (
        "capabilities not a list",
        _replace('name = "ALPHA"', 'name = "ALPHA"\ncapabilities = "iceberg"'),
        "venues[0].capabilities",
        "must be a list",
    ),
    ("invalid TOML", CONTRACT_EXAMPLE + "\n= oops\n", "", "invalid TOML"),
]


@pytest.mark.parametrize(
    ("text", "path", "description"),
    [pytest.param(text, path, desc, id=name) for name, text, path, desc in BROKEN],
)
def test_refusal_names_its_key(text: str, path: str, description: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "broken.toml")

    error = info.value
    assert error.path == path
    assert description in error.description
    where = f"{path}: " if path else ""
    assert str(error).startswith(f"scenario: broken.toml: {where}")


# -- [session] ------------------------------------------------------------------------------

#: The [session] example of CONTRACT.md ("Wave 2 additions").
CONTRACT_SESSION = """
[session]
timezone = "America/New_York"   # any IANA name; default "UTC"
open = "09:30"                  # HH:MM or HH:MM:SS, local to timezone; default "00:00"
close = "16:00"                 # default "23:59:59"
"""


def test_the_contract_session_parses() -> None:
    scenario = parse_scenario(CONTRACT_EXAMPLE + CONTRACT_SESSION, "t")

    assert scenario.session == TradingSession("America/New_York", time(9, 30), time(16, 0))


def test_without_a_session_table_the_market_is_open_all_utc_day() -> None:
    scenario = parse_scenario(CONTRACT_EXAMPLE, "t")

    assert scenario.session == TradingSession("UTC", time(0, 0), time(23, 59, 59))


def test_session_keys_default_one_by_one() -> None:
    scenario = parse_scenario(CONTRACT_EXAMPLE + '\n[session]\nclose = "17:30:15"\n', "t")

    assert scenario.session == TradingSession("UTC", time(0, 0), time(17, 30, 15))


@pytest.mark.parametrize(
    ("table", "path", "description"),
    [
        ('colour = "red"', "session.colour", "unknown key"),
        ('timezone = "Mars/Olympus"', "session.timezone", "unknown time zone 'Mars/Olympus'"),
        ("timezone = 5", "session.timezone", "must be a string"),
        ('open = "9:30"', "session.open", '"HH:MM" or "HH:MM:SS"'),
        ('close = "24:00"', "session.close", '"HH:MM" or "HH:MM:SS"'),
        ("open = 09:30:00", "session.open", "must be a string"),
    ],
)
def test_a_bad_session_key_is_refused_by_name(table: str, path: str, description: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(f"{CONTRACT_EXAMPLE}\n[session]\n{table}\n", "broken.toml")

    assert info.value.path == path
    assert description in info.value.description


def test_a_session_that_is_not_a_table_is_refused() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario('session = "always"\n' + CONTRACT_EXAMPLE, "broken.toml")

    assert (info.value.path, info.value.description) == ("session", "must be a table")

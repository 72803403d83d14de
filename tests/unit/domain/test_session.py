"""The trading session: open and close instants, across midnight and daylight saving."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from oms_server.domain.session import (
    NS_PER_S,
    TradingSession,
    parse_clock_time,
    utc_text,
)

NEW_YORK = ZoneInfo("America/New_York")
NYSE = TradingSession("America/New_York", time(9, 30), time(16, 0))


def ns(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int = 0,
    second: int = 0,
    *,
    tz: ZoneInfo | None = None,
) -> int:
    """The instant of a wall-clock time (UTC unless ``tz``), in Unix ns."""
    at = datetime(year, month, day, hour, minute, second, tzinfo=tz or UTC)
    return int(at.timestamp()) * NS_PER_S


def test_the_default_session_is_the_whole_utc_day_but_its_last_second() -> None:
    session = TradingSession()
    assert (session.timezone, session.open, session.close) == ("UTC", time(0), time(23, 59, 59))
    assert session.is_open(ns(2024, 6, 3, 0))
    assert session.is_open(ns(2024, 6, 3, 12))
    assert session.is_open(ns(2024, 6, 3, 23, 59, 58))
    assert not session.is_open(ns(2024, 6, 3, 23, 59, 59))
    assert session.next_close(ns(2024, 6, 3, 0)) == ns(2024, 6, 3, 23, 59, 59)
    assert session.next_open(ns(2024, 6, 3, 23, 59, 59)) == ns(2024, 6, 4, 0)


def test_a_session_is_open_from_its_open_to_just_before_its_close() -> None:
    assert not NYSE.is_open(ns(2024, 6, 3, 9, 29, 59, tz=NEW_YORK))
    assert NYSE.is_open(ns(2024, 6, 3, 9, 30, tz=NEW_YORK))
    assert NYSE.is_open(ns(2024, 6, 3, 15, 59, 59, tz=NEW_YORK))
    assert not NYSE.is_open(ns(2024, 6, 3, 16, 0, tz=NEW_YORK))


def test_next_open_and_close_are_strictly_after_the_instant() -> None:
    open_ns, close_ns = ns(2024, 6, 3, 9, 30, tz=NEW_YORK), ns(2024, 6, 3, 16, tz=NEW_YORK)
    assert NYSE.next_open(ns(2024, 6, 3, 8, tz=NEW_YORK)) == open_ns
    assert NYSE.next_open(open_ns) == ns(2024, 6, 4, 9, 30, tz=NEW_YORK)
    assert NYSE.next_close(open_ns) == close_ns
    assert NYSE.next_close(close_ns) == ns(2024, 6, 4, 16, tz=NEW_YORK)
    assert NYSE.next_open(ns(2024, 6, 3, 20, tz=NEW_YORK)) == ns(2024, 6, 4, 9, 30, tz=NEW_YORK)


def test_an_order_accepted_in_the_session_ends_its_day_at_that_close() -> None:
    accepted = ns(2024, 6, 3, 10, tz=NEW_YORK)
    assert NYSE.close_of_day(accepted) == ns(2024, 6, 3, 16, tz=NEW_YORK)
    # 16:00 EDT is 20:00 UTC
    assert utc_text(NYSE.close_of_day(accepted)) == "2024-06-03T20:00:00Z"


@pytest.mark.parametrize(
    ("day", "utc_hour"),
    [
        ((2024, 3, 8), 21),  # Friday before the spring change: EST, UTC-5
        ((2024, 3, 11), 20),  # Monday after it: EDT, UTC-4
        ((2024, 11, 1), 20),  # before the autumn change: EDT
        ((2024, 11, 4), 21),  # after it: EST
    ],
)
def test_the_close_follows_the_local_clock_across_daylight_saving(
    day: tuple[int, int, int], utc_hour: int
) -> None:
    accepted = ns(*day, 12, tz=NEW_YORK)
    assert NYSE.close_of_day(accepted) == ns(*day, utc_hour)


def test_the_close_after_a_spring_forward_night_is_an_hour_nearer() -> None:
    close_before = ns(2024, 3, 9, 16, tz=NEW_YORK)
    assert NYSE.next_close(close_before) - close_before == 23 * 3600 * NS_PER_S


def test_a_session_whose_close_is_before_its_open_spans_midnight() -> None:
    evening = TradingSession("UTC", time(18, 0), time(17, 0))  # e.g. futures, Sunday 18:00
    assert evening.is_open(ns(2024, 6, 3, 23))
    assert evening.is_open(ns(2024, 6, 4, 16, 59, 59))
    assert not evening.is_open(ns(2024, 6, 4, 17, 30))
    assert evening.next_close(ns(2024, 6, 3, 19)) == ns(2024, 6, 4, 17)
    assert evening.next_open(ns(2024, 6, 4, 17)) == ns(2024, 6, 4, 18)


def test_open_equal_to_close_is_always_open_and_closes_each_day_at_that_time() -> None:
    all_day = TradingSession("Asia/Tokyo", time(0), time(0))
    tokyo = ZoneInfo("Asia/Tokyo")
    assert all_day.is_open(ns(2024, 6, 3, 23, 59, 59, tz=tokyo))
    assert all_day.is_open(ns(2024, 6, 4, 0, tz=tokyo))
    assert all_day.next_close(ns(2024, 6, 3, 12, tz=tokyo)) == ns(2024, 6, 4, 0, tz=tokyo)


def test_a_session_reads_in_words() -> None:
    assert NYSE.describe() == "09:30-16:00 America/New_York"
    assert TradingSession().describe() == "00:00-23:59:59 UTC"


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        TradingSession("Mars/Olympus")


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("09:30", time(9, 30)), ("16:00:05", time(16, 0, 5)), ("23:59:59", time(23, 59, 59))],
)
def test_clock_times_are_hh_mm_or_hh_mm_ss(text: str, parsed: time) -> None:
    assert parse_clock_time(text) == parsed


@pytest.mark.parametrize("text", ["9:30", "24:00", "12:60", "12:00:60", "noon", "12:00 ", ""])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_clock_time(text)

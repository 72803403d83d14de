"""The trading session: when the market opens and closes each day, in its own time zone.

Pure: instants in and out are Unix nanoseconds; the calendar is zoneinfo's, so the
session follows the local clock across daylight-saving changes. Every calendar day has
a session (no weekends or holidays). A close at or before the open ends the session on
the next day (``18:00`` to ``17:00``); ``open == close`` is a session of a whole day
that closes and reopens at that instant.

A local time that does not exist on a day (inside a spring-forward gap) is read with the
offset before the change, and an ambiguous one (a fall-back hour) as its first
occurrence (zoneinfo's ``fold=0``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DEFAULT_CLOSE",
    "DEFAULT_OPEN",
    "DEFAULT_TIMEZONE",
    "NS_PER_S",
    "TradingSession",
    "parse_clock_time",
    "utc_text",
]

DEFAULT_TIMEZONE = "UTC"
DEFAULT_OPEN = time(0, 0)
DEFAULT_CLOSE = time(23, 59, 59)

NS_PER_S = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CLOCK_TIME_RE = re.compile(r"([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?")
#: Days either side of an instant's local date whose sessions may contain or follow it.
_DAYS_AROUND = (-1, 0, 1, 2)


def utc_text(at_ns: int) -> str:
    """An instant as ISO-8601 UTC to the second, e.g. ``2024-06-03T20:00:00Z``."""
    return datetime.fromtimestamp(at_ns // NS_PER_S, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_clock_time(text: str) -> time:
    """A local time of day from ``HH:MM`` or ``HH:MM:SS`` (24-hour clock).

    Raises ValueError naming the expected form.
    """
    match = _CLOCK_TIME_RE.fullmatch(text)
    if match is None:
        raise ValueError(f'{text!r} is not a time of day "HH:MM" or "HH:MM:SS" (00:00 to 23:59:59)')
    hours, minutes, seconds = match.groups()
    return time(int(hours), int(minutes), int(seconds or 0))


@dataclass(frozen=True, slots=True)
class TradingSession:
    """A daily session from ``open`` to ``close`` (local times of ``timezone``).

    The session is open from its open (inclusive) to its close (exclusive).
    """

    timezone: str = DEFAULT_TIMEZONE
    open: time = DEFAULT_OPEN
    close: time = DEFAULT_CLOSE
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {self.timezone!r} (an IANA name such as 'America/New_York')"
            ) from None
        for name, value in (("open", self.open), ("close", self.close)):
            if value.tzinfo is not None or value.microsecond:
                raise ValueError(f"{name} must be a local time in whole seconds")
        object.__setattr__(self, "_zone", zone)

    def is_open(self, now_ns: int) -> bool:
        """True when ``now_ns`` falls inside a session."""
        return any(start <= now_ns < end for start, end in self._sessions_around(now_ns))

    def next_open(self, after_ns: int) -> int:
        """The first open strictly after ``after_ns``."""
        return min(start for start, _ in self._sessions_around(after_ns) if start > after_ns)

    def next_close(self, after_ns: int) -> int:
        """The first close strictly after ``after_ns``."""
        return min(end for _, end in self._sessions_around(after_ns) if end > after_ns)

    def close_of_day(self, accepted_ns: int) -> int:
        """The close that ends the trading day of an order accepted at ``accepted_ns``:
        the first close after it (a DAY order expires then)."""
        return self.next_close(accepted_ns)

    def local(self, at_ns: int) -> datetime:
        """``at_ns`` as an aware datetime in the session's time zone (whole seconds)."""
        return datetime.fromtimestamp(at_ns // NS_PER_S, self._zone)

    def describe(self) -> str:
        """The session in words, e.g. ``09:30-16:00 America/New_York``."""
        return f"{_clock(self.open)}-{_clock(self.close)} {self.timezone}"

    # -- helpers ------------------------------------------------------------------------

    def _sessions_around(self, at_ns: int) -> list[tuple[int, int]]:
        """(open, close) of the sessions opening on the local days around ``at_ns``."""
        today = self.local(at_ns).date()
        return [self._session_of(today + timedelta(days=d)) for d in _DAYS_AROUND]

    def _session_of(self, day: date) -> tuple[int, int]:
        """(open, close) of the session that opens on local ``day``."""
        close_day = day if self.close > self.open else day + timedelta(days=1)
        return self._instant(day, self.open), self._instant(close_day, self.close)

    def _instant(self, day: date, at: time) -> int:
        delta = datetime.combine(day, at, tzinfo=self._zone) - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * NS_PER_S


def _clock(at: time) -> str:
    return at.strftime("%H:%M:%S" if at.second else "%H:%M")

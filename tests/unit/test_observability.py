"""JSON log lines: ISO-8601 UTC times to the millisecond, and the ids a log call passes."""

from __future__ import annotations

import json
import logging

from oms_server.observability import JsonFormatter

#: 2026-12-03T15:04:05.123Z as a log record's time.
CREATED = 1796310245.123456


def record(message: str, **extra: str) -> logging.LogRecord:
    made = logging.LogRecord("oms.test", logging.WARNING, __file__, 1, message, (), None)
    made.created, made.msecs = CREATED, 123.456
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def test_a_json_line_has_an_iso_utc_time_and_the_ids_it_was_given() -> None:
    line = JsonFormatter().format(
        record("fill refused", order_id="O-1", account_id="ACC1", venue="ALPHA", other="x")
    )
    entry = json.loads(line)
    assert entry == {
        "time": "2026-12-03T15:04:05.123Z",
        "level": "WARNING",
        "logger": "oms.test",
        "message": "fill refused",
        "order_id": "O-1",
        "account_id": "ACC1",
        "venue": "ALPHA",
    }


def test_a_line_without_ids_has_none() -> None:
    entry = json.loads(JsonFormatter().format(record("started")))
    assert set(entry) == {"time", "level", "logger", "message"}

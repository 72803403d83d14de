"""The operator feed's position (its event id) and where the page is served."""

from __future__ import annotations

import pytest

from oms_server.config import DEFAULT_WEB_ADDR, Settings
from oms_server.web.feed import format_cursor, parse_cursor


def test_a_position_names_every_account_sequence_and_reads_back() -> None:
    sequences = {"ACC2": 7, "ACC1": 12, "desk:a,b": 3}
    text = format_cursor(sequences)
    assert text == "ACC1:12,ACC2:7,desk%3Aa%2Cb:3"
    assert parse_cursor(text) == sequences
    assert parse_cursor("") == {}


@pytest.mark.parametrize("text", ["ACC1", "ACC1:", ":5", "ACC1:-1", "ACC1:x", "ACC1:1.5"])
def test_anything_else_is_not_a_position(text: str) -> None:
    with pytest.raises(ValueError, match="not a feed position"):
        parse_cursor(text)


def test_the_page_is_served_on_oms_web_addr_unless_off() -> None:
    assert Settings.from_env({}).web_addr == DEFAULT_WEB_ADDR == "127.0.0.1:8080"
    assert Settings.from_env({"OMS_WEB_ADDR": "0.0.0.0:9000"}).web_addr == "0.0.0.0:9000"
    assert Settings.from_env({"OMS_WEB_ADDR": "off"}).web_addr is None
    assert Settings().web_addr is None  # an OmsApp built in code serves no page unless told

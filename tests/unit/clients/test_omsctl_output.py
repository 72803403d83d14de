"""omsctl's human output and help: prices at the tick, enums without prefixes, UTC
timestamps, help on every option, the command list when bare, shell completion."""

from __future__ import annotations

import argparse
import subprocess

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from clients import omsctl
from protos.oms.v1 import common_pb2, order_pb2


@pytest.mark.parametrize(
    ("price", "tick", "shown"),
    [
        ("190.1", "0.01", "190.10"),
        ("190", "0.01", "190.00"),
        ("190.10", "0.01", "190.10"),
        ("190.123", "0.01", "190.123"),  # an average finer than the tick keeps its digits
        ("5", "1", "5"),
        ("0.5", "0.25", "0.50"),
        ("7", "0.500", "7.0"),  # the tick's own trailing zeros do not count
        ("190.1", None, "190.1"),
        ("", "0.01", ""),
        ("n/a", "0.01", "n/a"),
    ],
)
def test_prices_are_shown_at_the_tick(price: str, tick: str | None, shown: str) -> None:
    assert omsctl.at_tick(price, tick) == shown


def test_human_fields_drop_enum_prefixes_and_keep_trailing_zeros() -> None:
    order = order_pb2.Order(
        order_id="O1", symbol="AAPL", side=common_pb2.SIDE_BUY, limit_price="190.1",
        order_type=common_pb2.ORDER_TYPE_LIMIT, state=common_pb2.ORDER_STATE_PARTIALLY_FILLED,
    )  # fmt: skip
    shown = omsctl.human_fields(order, {"AAPL": "0.01"})
    assert (shown["side"], shown["order_type"]) == ("BUY", "LIMIT")
    assert (shown["state"], shown["limit_price"]) == ("PARTIALLY_FILLED", "190.10")


def test_times_are_iso_8601_utc_to_the_millisecond() -> None:
    stamp = Timestamp(seconds=1_717_416_000, nanos=123_456_789)
    assert omsctl.utc_time(stamp) == "2024-06-03T12:00:00.123Z"
    assert omsctl.utc_time(Timestamp()) == ""


def parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += parsers(sub)
    return found


def test_every_option_and_argument_has_help() -> None:
    missing = [
        f"{p.prog} {a.dest}"
        for p in parsers(omsctl.build_parser())
        for a in p._actions
        if not isinstance(a, argparse._SubParsersAction) and not a.help
    ]
    assert missing == []


def test_run_bare_it_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert omsctl.main([]) == omsctl.EXIT_USAGE
    err = capsys.readouterr().err
    assert all(name in err for name in ("submit", "watch", "accounts", "completion"))


def test_bash_completion_completes_commands_actions_and_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert omsctl.main(["completion", "bash"]) == omsctl.EXIT_OK
    script = capsys.readouterr().out

    def complete(*words: str) -> list[str]:
        line = " ".join(f"'{w}'" for w in words)
        probe = f"COMP_WORDS=(omsctl {line}); COMP_CWORD={len(words)}; _omsctl; "
        probe += 'echo "${COMPREPLY[@]}"'
        done = subprocess.run(
            ["bash", "-c", script + probe], capture_output=True, text=True, check=True
        )
        return done.stdout.split()

    assert complete("wa") == ["watch"]
    assert complete("accounts", "de") == ["deposit"]
    assert complete("submit", "AAPL", "--wa") == ["--wait"]
    assert complete("watch", "--from") == ["--from-sequence"]

"""omsctl's command line: parsing, exit codes for bad usage, token and account defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from clients import omsctl
from oms_server.api.auth import issue_token
from oms_server.domain.access import Role

SECRET = "unit-test-secret-0123456789abcdef"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("OMS_TOKEN", "OMS_AUTH_SECRET", "OMS_STATE_DIR", "OMS_ACCOUNT", "OMS_GRPC_ADDR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def parse(*argv: str) -> object:
    return omsctl.build_parser().parse_args(argv)


def test_submit_parses_every_option() -> None:
    args = parse(
        "submit", "AAPL", "BUY", "100", "--limit", "190.5", "--tif", "ioc",
        "--strategy", "direct", "--venue", "ALPHA", "--account", "ACC1",
        "--client-order-id", "c-1",
    )  # fmt: skip
    assert (args.symbol, args.side, args.quantity, args.limit) == ("AAPL", "buy", "100", "190.5")
    assert (args.tif, args.strategy, args.venue, args.account) == ("ioc", "direct", "ALPHA", "ACC1")
    assert args.client_order_id == "c-1"


def test_global_options_work_before_and_after_the_command() -> None:
    before = parse("--target", "h:1", "--json", "get", "O1")
    after = parse("get", "O1", "--target", "h:1", "--json", "--timeout", "3")
    assert (before.target, before.json) == ("h:1", True)
    assert (after.target, after.json, after.timeout) == ("h:1", True, 3.0)


def test_target_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse("venues").target == omsctl.DEFAULT_TARGET
    monkeypatch.setenv("OMS_GRPC_ADDR", "10.0.0.1:9")
    assert parse("venues").target == "10.0.0.1:9"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["submit", "AAPL", "hold", "100"],
        ["submit", "AAPL", "buy"],
        ["list", "--state", "sleeping"],
        ["halt"],
        ["halt", "--all", "--account", "ACC1"],
        ["accounts"],
        ["watch", "--max-reports", "many"],
        ["watch", "--from-sequence", "-1"],
        ["list", "--page-size", "-5"],
        ["get", "O1", "--timeout", "0"],
    ],
)
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert omsctl.main(["--token", "t", *argv]) == omsctl.EXIT_USAGE
    assert "usage" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert omsctl.main(["--help"]) == omsctl.EXIT_OK
    assert "watch" in capsys.readouterr().out


def test_without_a_token_or_local_secret_it_says_how_to_get_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert omsctl.main(["get", "O1"]) == omsctl.EXIT_USAGE
    assert "OMS_TOKEN" in capsys.readouterr().err


def test_an_admin_token_is_minted_from_the_local_stack_secret(tmp_path: Path) -> None:
    (tmp_path / ".oms").mkdir()
    (tmp_path / ".oms" / "auth_secret").write_text(SECRET + "\n")
    claims = jwt.decode(omsctl.resolve_token(None), SECRET, algorithms=["HS256"])
    assert (claims["role"], claims["sub"]) == ("admin", "omsctl")


def test_oms_auth_secret_wins_over_the_state_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_AUTH_SECRET", SECRET)
    claims = jwt.decode(omsctl.resolve_token(None), SECRET, algorithms=["HS256"])
    assert claims["role"] == "admin"


def test_a_given_token_is_used_as_is() -> None:
    assert omsctl.resolve_token("abc") == "abc"


def test_the_account_defaults_to_the_tokens_only_account(monkeypatch: pytest.MonkeyPatch) -> None:
    one = issue_token(SECRET, "t", Role.TRADER, ["ACC7"])
    two = issue_token(SECRET, "t", Role.TRADER, ["ACC7", "ACC8"])
    assert omsctl.account_of(parse("--token", one, "list")) == "ACC7"
    assert omsctl.account_of(parse("--token", one, "list", "--account", "ACC9")) == "ACC9"
    with pytest.raises(omsctl.UsageError, match="--account"):
        omsctl.account_of(parse("--token", two, "list"))
    monkeypatch.setenv("OMS_ACCOUNT", "ACC5")
    assert omsctl.account_of(parse("--token", two, "list")) == "ACC5"


@pytest.mark.parametrize("garbage", ["", "a.b.c", "x", "a.!!!.c"])
def test_unreadable_tokens_name_no_accounts(garbage: str) -> None:
    assert omsctl.token_accounts(garbage) == []


def test_submit_takes_gtd_with_an_expire_time() -> None:
    args = parse(
        "submit", "AAPL", "buy", "1", "--limit", "1", "--tif", "GTD", "--expire-time", "+1h"
    )
    assert (args.tif, args.expire_time) == ("gtd", "+1h")


NOW = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+90s", NOW + timedelta(seconds=90)),
        ("+30m", NOW + timedelta(minutes=30)),
        ("+1h30m", NOW + timedelta(hours=1, minutes=30)),
        ("+2d", NOW + timedelta(days=2)),
        ("2024-06-03T16:00:00-04:00", datetime(2024, 6, 3, 20, 0, tzinfo=UTC)),
        ("2024-06-03T20:00:00Z", datetime(2024, 6, 3, 20, 0, tzinfo=UTC)),
        ("2024-06-03T20:00:00", datetime(2024, 6, 3, 20, 0, tzinfo=UTC)),  # no offset: UTC
    ],
)
def test_expire_times_are_iso_8601_or_a_duration_from_now(text: str, expected: datetime) -> None:
    assert omsctl.parse_expire_time(text, NOW) == expected


@pytest.mark.parametrize("text", ["+", "+5x", "tomorrow", "16:00 today"])
def test_other_expire_times_are_usage_errors(text: str) -> None:
    with pytest.raises(omsctl.UsageError, match="--expire-time"):
        omsctl.parse_expire_time(text, NOW)

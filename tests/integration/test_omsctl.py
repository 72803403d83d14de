"""omsctl against a real OMS over loopback gRPC: in-process ``main(argv)``, and one
subprocess for Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from clients.omsctl import EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from clients.sdk import OmsClient
from oms_server.domain.access import Role
from tests.support.fixtures import TEST_SECRET, RunningOms, token
from tests.support.omsctl import NO_TOKEN, WAIT_S, Omsctl
from tests.support.waiting import eventually

REPO_ROOT = Path(__file__).resolve().parents[2]
TRADER = token(Role.TRADER, ("ACC1",))
ADMIN = token(Role.ADMIN, ())


async def submit(omsctl: Omsctl, *extra: str) -> dict:
    run = await omsctl("--json", "submit", "AAPL", "buy", "100", "--limit", "190", *extra)
    assert run.code == EXIT_OK, run.err
    return run.json()


@pytest.fixture
def omsctl(oms_sqlite: RunningOms, capsys: pytest.CaptureFixture[str]) -> Omsctl:
    assert oms_sqlite.app is not None
    return Omsctl(oms_sqlite.app.address, capsys, default_token=TRADER)


@pytest.fixture
async def sdk(oms_sqlite: RunningOms) -> AsyncIterator[OmsClient]:
    assert oms_sqlite.app is not None
    async with OmsClient(oms_sqlite.app.address, TRADER) as client:
        yield client


async def test_submit_get_list_cancel_events_as_json(omsctl: Omsctl) -> None:
    order = await submit(omsctl, "--account", "ACC1", "--client-order-id", "cli-1")
    assert (order["client_order_id"], order["state"]) == ("cli-1", "ORDER_STATE_NEW")
    assert (order["quantity"], order["limit_price"]) == ("100", "190")
    got = await omsctl("--json", "get", order["order_id"])
    assert got.json() == order
    listed = await omsctl("--json", "list", "--state", "new")
    assert [o["order_id"] for o in listed.json()["orders"]] == [order["order_id"]]
    canceled = await omsctl("cancel", order["order_id"], "--json")
    assert canceled.json()["state"] == "ORDER_STATE_CANCELED"
    events = (await omsctl("--json", "events", order["order_id"])).json()["events"]
    assert events[0]["exec_type"] == "EXEC_TYPE_NEW"
    assert events[-1]["exec_type"] == "EXEC_TYPE_CANCELED"
    assert [e["sequence"] for e in events] == sorted(e["sequence"] for e in events)


async def test_cancel_all_mass_cancels_and_says_how_many(omsctl: Omsctl) -> None:
    for key in ("ca-1", "ca-2"):
        await submit(omsctl, "--account", "ACC1", "--client-order-id", key)
    run = await omsctl("cancel-all", "--account", "ACC1", "--symbol", "AAPL", "--side", "buy")
    assert (run.code, run.err) == (EXIT_OK, "")
    assert run.out == "mass cancel of ACC1 buy AAPL: 2 working orders asked to cancel\n"
    again = await omsctl("--json", "cancel-all", "--account", "ACC1")
    assert again.json() == {"account_id": "ACC1", "symbol": "", "side": "", "canceled_count": 0}
    refused = await omsctl("cancel-all", "--account", "ACC2")
    assert refused.code == EXIT_REFUSED
    assert refused.err.startswith("omsctl: error: PERMISSION_DENIED (ACCOUNT_NOT_PERMITTED)")


async def test_replace_changes_the_order(omsctl: Omsctl) -> None:
    order = await submit(
        omsctl,
    )
    replaced = await omsctl("--json", "replace", order["order_id"], "--qty", "150")
    assert replaced.code == EXIT_OK, replaced.err
    assert replaced.json()["quantity"] == "150"
    assert replaced.json()["replaces_order_id"] == order["order_id"]


async def test_replace_needs_something_to_change(omsctl: Omsctl) -> None:
    run = await omsctl("replace", "O1")
    assert run.code == EXIT_USAGE
    assert "--qty" in run.err


async def test_human_output_is_tables(omsctl: Omsctl) -> None:
    order = await submit(omsctl, "--client-order-id", "human-1")
    got = await omsctl("get", order["order_id"])
    assert got.code == EXIT_OK
    assert order["order_id"] in got.out and "ORDER_STATE_NEW" not in got.out
    assert "│ NEW " in got.out and "│ 190.00 " in got.out  # no enum prefix; at AAPL's tick
    listed = await omsctl("list")
    assert "human-1" in listed.out and "1 orders" in listed.out
    events = await omsctl("events", order["order_id"])
    assert "NEW" in events.out and "1 events" in events.out


async def test_list_pages_and_all(omsctl: Omsctl) -> None:
    ids = [
        (
            await submit(
                omsctl,
            )
        )["order_id"]
        for _ in range(5)
    ]
    first = (await omsctl("--json", "list", "--page-size", "2")).json()
    assert len(first["orders"]) == 2 and first["next_page_token"]
    token_arg = ["--page-token", first["next_page_token"]]
    second = (await omsctl("--json", "list", "--page-size", "2", *token_arg)).json()
    every = (await omsctl("--json", "list", "--page-size", "2", "--all")).json()
    assert [o["order_id"] for o in every["orders"]] == list(reversed(ids))
    assert [o["order_id"] for o in first["orders"] + second["orders"]] == list(reversed(ids))[:4]


async def test_refusals_exit_1_with_status_reason_and_fields_on_stderr(omsctl: Omsctl) -> None:
    run = await omsctl("submit", "AAPL", "buy", "0", "--limit", "190")
    assert run.code == EXIT_REFUSED
    assert run.out == ""
    assert "INVALID_ARGUMENT (INVALID_FIELD)" in run.err
    assert "field quantity: must be" in run.err
    as_json = await omsctl("--json", "submit", "AAPL", "buy", "1", "--limit", "190.001")
    error = json.loads(as_json.err)["error"]
    assert as_json.code == EXIT_REFUSED
    assert (error["code"], error["reason"]) == ("INVALID_ARGUMENT", "INVALID_FIELD")
    assert [v["field"] for v in error["field_violations"]] == ["limit_price"]
    missing = await omsctl("get", "no-such-order")
    assert missing.code == EXIT_REFUSED and "NOT_FOUND (ORDER_NOT_FOUND)" in missing.err


async def test_a_gtd_order_takes_an_expire_time_and_shows_it_expired(omsctl: Omsctl) -> None:
    order = await submit(omsctl, "--tif", "gtd", "--expire-time", "+1s")
    assert order["time_in_force"] == "TIME_IN_FORCE_GTD"
    assert order["expire_time"].endswith("Z")

    async def expired() -> bool:
        got = await omsctl("--json", "get", order["order_id"])
        return bool(got.json()["state"] == "ORDER_STATE_EXPIRED")

    await eventually(expired, timeout_s=WAIT_S, message="the GTD order expired")
    events = (await omsctl("--json", "events", order["order_id"])).json()["events"]
    assert events[-1]["exec_type"] == "EXEC_TYPE_EXPIRED"
    missing = await omsctl("submit", "AAPL", "buy", "1", "--limit", "190", "--tif", "gtd")
    assert missing.code == EXIT_REFUSED and "field expire_time: is required" in missing.err


async def test_other_accounts_are_refused(omsctl: Omsctl) -> None:
    run = await omsctl("list", "--account", "ACC2")
    assert run.code == EXIT_REFUSED
    assert "PERMISSION_DENIED" in run.err


async def test_an_unreachable_server_exits_1(omsctl: Omsctl) -> None:
    run = await omsctl("--target", "127.0.0.1:1", "--timeout", "1", "get", "O1")
    assert run.code == EXIT_REFUSED
    assert "UNAVAILABLE" in run.err


async def test_without_a_token_omsctl_mints_one_from_the_local_secret(
    omsctl: Omsctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OMS_TOKEN", "OMS_AUTH_SECRET", "OMS_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".oms").mkdir()
    (tmp_path / ".oms" / "auth_secret").write_text(TEST_SECRET + "\n")
    run = await omsctl("--json", "list", "--account", "ACC2", token=NO_TOKEN)
    assert run.code == EXIT_OK, run.err
    assert run.json()["orders"] == []


async def test_watch_replays_from_a_sequence_as_json_lines(omsctl: Omsctl) -> None:
    for _ in range(3):
        await submit(
            omsctl,
        )
    run = await omsctl("--json", "watch", "--from-sequence", "1", "--max-reports", "2")
    assert run.code == EXIT_OK, run.err
    reports = run.json_lines()
    assert [r["sequence"] for r in reports] == [2, 3]
    assert all(r["exec_type"] == "EXEC_TYPE_NEW" for r in reports)


async def test_watch_follows_live_reports(omsctl: Omsctl, sdk: OmsClient) -> None:
    watch = asyncio.create_task(
        omsctl("--json", "watch", "--from-sequence", "0", "--max-reports", "4")
    )
    order = dict(account_id="ACC1", symbol="AAPL", side="buy", quantity="1", limit_price="190")
    first = await sdk.submit_order(**order)  # type: ignore[arg-type]
    await sdk.cancel_order(first.order_id)
    await sdk.submit_order(**order)  # type: ignore[arg-type]
    run = await asyncio.wait_for(watch, WAIT_S)
    assert run.code == EXIT_OK, run.err
    reports = run.json_lines()
    assert [r["sequence"] for r in reports] == [1, 2, 3, 4]
    assert [r["exec_type"].removeprefix("EXEC_TYPE_") for r in reports] == [
        "NEW",
        "PENDING_CANCEL",
        "CANCELED",
        "NEW",
    ]


async def test_watch_human_lines_and_duration_bound(omsctl: Omsctl) -> None:
    order = await submit(
        omsctl,
    )
    run = await omsctl("watch", "--from-sequence", "0", "--duration", "0.5")
    assert run.code == EXIT_OK, run.err
    when, rest = run.out.split(" ", 1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", when), when
    assert rest.startswith(f"#1 {order['order_id']} AAPL BUY exec=NEW state=NEW cum 0")


async def test_ctrl_c_ends_watch_with_exit_0(oms_sqlite: RunningOms, omsctl: Omsctl) -> None:
    assert oms_sqlite.app is not None
    await submit(
        omsctl,
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "clients.omsctl", "--target", oms_sqlite.app.address,
        "--token", TRADER, "--json", "watch", "--from-sequence", "0",
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        first = await asyncio.wait_for(process.stdout.readline(), WAIT_S)  # type: ignore[union-attr]
        assert json.loads(first)["sequence"] == 1
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), WAIT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == EXIT_OK, err.decode()


async def test_submit_takes_the_trailing_and_if_touched_types(omsctl: Omsctl) -> None:
    """--trailing-offset alone makes a trailing stop; --type names any type of the table."""
    run = await omsctl(
        "--json", "submit", "AAPL", "buy", "100", "--trailing-offset", "0.50",
        "--account", "ACC1",
    )  # fmt: skip
    assert run.code == EXIT_OK, run.err
    trailing = run.json()
    assert (trailing["order_type"], trailing["trailing_offset"]) == (
        "ORDER_TYPE_TRAILING_STOP",
        "0.5",
    )
    run = await omsctl(
        "--json", "submit", "AAPL", "buy", "100", "--type", "limit_if_touched",
        "--stop", "189.50", "--limit", "189.60", "--account", "ACC1",
    )  # fmt: skip
    assert run.code == EXIT_OK, run.err
    touched = run.json()
    assert (touched["order_type"], touched["stop_price"], touched["limit_price"]) == (
        "ORDER_TYPE_LIMIT_IF_TOUCHED",
        "189.5",
        "189.6",
    )


async def test_submit_makes_an_iceberg_with_display_qty(omsctl: Omsctl) -> None:
    run = await omsctl(
        "--json", "submit", "AAPL", "buy", "3000", "--limit", "190.00", "--display-qty", "100",
        "--account", "ACC1",
    )  # fmt: skip
    assert run.code == EXIT_OK, run.err
    iceberg = run.json()
    assert (iceberg["quantity"], iceberg["display_quantity"]) == ("3000", "100")
    refused = await omsctl(
        "submit", "AAPL", "buy", "100", "--limit", "190.00", "--display-qty", "200",
        "--account", "ACC1",
    )  # fmt: skip
    assert refused.code == EXIT_REFUSED
    assert "display_quantity" in refused.err


async def test_submit_makes_a_pegged_order_with_peg_and_peg_offset(omsctl: Omsctl) -> None:
    run = await omsctl(
        "--json", "submit", "AAPL", "buy", "100", "--peg", "primary", "--peg-offset", "0.01",
        "--limit", "190.00", "--account", "ACC1",
    )  # fmt: skip
    assert run.code == EXIT_OK, run.err
    pegged = run.json()
    assert (pegged["order_type"], pegged["peg_type"], pegged["peg_offset"]) == (
        "ORDER_TYPE_PEGGED",
        "PEG_TYPE_PRIMARY",
        "0.01",
    )
    refused = await omsctl(
        "submit", "AAPL", "buy", "100", "--peg", "midpoint", "--peg-offset", "0.001",
        "--account", "ACC1",
    )  # fmt: skip
    assert refused.code == EXIT_REFUSED
    assert "peg_offset" in refused.err

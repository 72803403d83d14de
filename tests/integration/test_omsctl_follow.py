"""omsctl's following commands against a real OMS: ``watch`` from now, and
``submit --wait`` showing fills from three real venue simulators until the order is final."""

from __future__ import annotations

import pytest

from clients.omsctl import EXIT_OK, EXIT_USAGE, head_sequence
from clients.sdk import OmsClient
from oms_server.domain.access import Role
from tests.support.fixtures import RunningOms, token
from tests.support.market import RoutedOms
from tests.support.omsctl import Omsctl

TRADER = token(Role.TRADER, ("ACC1",))


@pytest.fixture
def omsctl(oms_sqlite: RunningOms, capsys: pytest.CaptureFixture[str]) -> Omsctl:
    assert oms_sqlite.app is not None
    return Omsctl(oms_sqlite.app.address, capsys, default_token=TRADER)


async def submit(omsctl: Omsctl) -> None:
    run = await omsctl("submit", "AAPL", "buy", "1", "--limit", "190", "--account", "ACC1")
    assert run.code == EXIT_OK, run.err


async def test_the_head_is_the_accounts_last_sequence(
    omsctl: Omsctl, oms_sqlite: RunningOms
) -> None:
    assert oms_sqlite.app is not None
    async with OmsClient(oms_sqlite.app.address, TRADER) as client:
        assert await head_sequence(client, "ACC1") == 0
        await submit(omsctl)
        await submit(omsctl)
        assert await head_sequence(client, "ACC1") == 2


async def test_watch_starts_at_now_unless_given_a_sequence(omsctl: Omsctl) -> None:
    await submit(omsctl)
    now = await omsctl("--json", "watch", "--duration", "0.3")
    assert (now.code, now.out) == (EXIT_OK, "")
    replay = await omsctl("--json", "watch", "--from-sequence", "0", "--max-reports", "1")
    assert [r["sequence"] for r in replay.json_lines()] == [1]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["watch", "--from-sequence", "-1"], "--from-sequence: -1 is negative"),
        (["watch", "--duration", "nan"], "--duration"),
        (["submit", "AAPL", "buy", "1"], "--limit PRICE, or --type market"),
    ],
)
async def test_usage_errors_say_what_is_wrong(omsctl: Omsctl, argv: list[str], said: str) -> None:
    run = await omsctl(*argv)
    assert run.code == EXIT_USAGE
    assert said in run.err and "Traceback" not in run.err


async def test_submit_wait_shows_each_fill_until_the_order_is_final(
    routed_oms: RoutedOms, capsys: pytest.CaptureFixture[str]
) -> None:
    assert routed_oms.app is not None
    omsctl = Omsctl(routed_oms.app.address, capsys, default_token=token())
    run = await omsctl(
        "submit", "AAPL", "buy", "1000", "--limit", "190.03", "--account", "ACC1", "--wait"
    )
    assert run.code == EXIT_OK, run.err
    lines = [line for line in run.out.splitlines() if " exec=" in line]
    trades = [line for line in lines if " exec=TRADE " in line]
    assert len(trades) >= 2  # the order sweeps several venues, each fill on its line
    assert lines[-1].split(" exec=", 1)[1].startswith("TRADE state=FILLED")
    assert all(" last " in t and "@190.0" in t for t in trades)  # prices at the tick

"""omsctl and the SDK against AccountService, MarketDataService and AdminService of an
OMS routing to three simulated venues on a real nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from clients.omsctl import EXIT_OK, EXIT_REFUSED
from clients.sdk import FailedPrecondition, OmsClient
from oms_server.domain.access import Role
from protos.oms.v1 import common_pb2
from tests.support.fixtures import token
from tests.support.market import RoutedOms
from tests.support.omsctl import WAIT_S, Omsctl
from tests.support.waiting import eventually

TRADER = token(Role.TRADER, ("ACC1",))
ADMIN = token(Role.ADMIN, ())
VENUES = ["ALPHA", "BRAVO", "CHARLIE"]


@pytest.fixture
def omsctl(routed_oms: RoutedOms, capsys: pytest.CaptureFixture[str]) -> Omsctl:
    assert routed_oms.app is not None
    return Omsctl(routed_oms.app.address, capsys, default_token=ADMIN)


@pytest.fixture
async def admin(routed_oms: RoutedOms) -> AsyncIterator[OmsClient]:
    assert routed_oms.app is not None
    async with OmsClient(routed_oms.app.address, ADMIN) as client:
        yield client


async def books_in(client: OmsClient, symbol: str = "AAPL") -> None:
    """Wait until every venue's book of ``symbol`` reached the OMS."""

    async def probe() -> bool:
        quote = await client.get_quote(symbol)
        return sorted(v.venue for v in quote.venues if v.bid_price) == VENUES

    await eventually(probe, message=f"{symbol} books from every venue")


async def resting_buy(client: OmsClient, account_id: str = "ACC1", **fields: object) -> object:
    """A limit buy below every ask: it rests."""
    request = {"account_id": account_id, "symbol": "AAPL", "side": "buy", "quantity": "10"}
    return await client.submit_order(**{**request, "limit_price": "189.00", **fields})  # type: ignore[arg-type]


# -- market data ---------------------------------------------------------------------------


async def test_instruments(omsctl: Omsctl, admin: OmsClient) -> None:
    symbols = {i.symbol for i in await admin.list_instruments()}
    assert {"AAPL", "MSFT"} <= symbols
    run = await omsctl("--json", "instruments", token=TRADER)
    assert run.code == EXIT_OK, run.err
    aapl = next(i for i in run.json()["instruments"] if i["symbol"] == "AAPL")
    assert (aapl["tick_size"], aapl["lot_size"], aapl["reference_price"]) == ("0.01", "1", "190")


async def test_quotes_show_the_consolidated_and_per_venue_bbo(
    omsctl: Omsctl, admin: OmsClient
) -> None:
    await books_in(admin)
    run = await omsctl("--json", "quotes", "AAPL", token=TRADER)
    assert run.code == EXIT_OK, run.err
    (quote,) = run.json()["quotes"]
    assert (quote["bid_price"], quote["bid_size"]) == ("189.99", "500")
    assert (quote["ask_price"], quote["ask_size"]) == ("190.01", "300")
    by_venue = {v["venue"]: v for v in quote["venues"]}
    assert sorted(by_venue) == VENUES
    assert (by_venue["BRAVO"]["bid_price"], by_venue["BRAVO"]["ask_price"]) == ("189.98", "190.02")
    human = await omsctl("quotes", "AAPL", token=TRADER)
    assert "CONSOLIDATED" in human.out and "CHARLIE" in human.out and "190.01" in human.out


async def test_an_unknown_symbol_is_refused_naming_the_field(omsctl: Omsctl) -> None:
    run = await omsctl("quotes", "NOPE", token=TRADER)
    assert run.code == EXIT_REFUSED
    assert "field symbol" in run.err


async def test_quotes_stream(omsctl: Omsctl, admin: OmsClient) -> None:
    await books_in(admin)
    quotes = admin.stream_quotes(["AAPL"])
    first = await asyncio.wait_for(anext(quotes), WAIT_S)
    await quotes.aclose()  # type: ignore[attr-defined]
    assert first.symbol == "AAPL" and first.ask_price == "190.01"
    run = await omsctl("--json", "quotes", "MSFT", "--follow", "--max-updates", "1")
    assert run.code == EXIT_OK, run.err
    assert run.json_lines()[0]["symbol"] == "MSFT"


# -- admin ---------------------------------------------------------------------------------


async def test_venues_show_their_circuit_state_and_fees(omsctl: Omsctl) -> None:
    run = await omsctl("--json", "venues")
    assert run.code == EXIT_OK, run.err
    venues = run.json()["venues"]
    assert [v["name"] for v in venues] == VENUES
    assert {v["circuit_state"] for v in venues} == {"CIRCUIT_STATE_CLOSED"}
    assert [v["taker_fee_bps"] for v in venues] == ["3", "1", "0.5"]
    human = await omsctl("venues")
    assert "CLOSED" in human.out and "ALPHA" in human.out


async def test_halt_cancels_working_orders_and_refuses_new_ones_until_resume(
    omsctl: Omsctl, admin: OmsClient
) -> None:
    await books_in(admin)
    working = await resting_buy(admin)
    halted = await omsctl("--json", "halt", "--account", "ACC1", "--reason", "test drill")
    assert halted.code == EXIT_OK, halted.err
    assert halted.json()["orders_canceled"] == 1

    async def canceled() -> bool:
        order = await admin.get_order(working.order_id)  # type: ignore[attr-defined]
        return order.state == common_pb2.ORDER_STATE_CANCELED

    await eventually(canceled, message="working order canceled by the halt")
    refused = await omsctl("submit", "AAPL", "buy", "1", "--limit", "189", token=TRADER)
    assert refused.code == EXIT_REFUSED
    assert "FAILED_PRECONDITION (TRADING_HALTED)" in refused.err
    with pytest.raises(FailedPrecondition):
        await resting_buy(admin)
    assert (await omsctl("resume", "--account", "ACC1")).code == EXIT_OK
    accepted = await omsctl("--json", "submit", "AAPL", "buy", "1", "--limit", "189", token=TRADER)
    assert accepted.code == EXIT_OK, accepted.err


async def test_halting_twice_and_halting_everything(omsctl: Omsctl, admin: OmsClient) -> None:
    assert (await omsctl("halt", "--account", "ACC1")).code == EXIT_OK
    again = await omsctl("--json", "halt", "--account", "ACC1")
    assert again.code == EXIT_OK, again.err
    assert again.json()["orders_canceled"] == 0
    everything = await omsctl("halt", "--all")
    assert everything.code == EXIT_OK and "all accounts" in everything.out
    with pytest.raises(FailedPrecondition):
        await resting_buy(admin, account_id="ACC2")
    assert (await omsctl("resume", "--all")).code == EXIT_OK
    assert (await omsctl("resume", "--account", "ACC1")).code == EXIT_OK
    assert (await resting_buy(admin, account_id="ACC2")).order_id  # type: ignore[attr-defined]


async def test_traders_may_not_halt_or_list_venues(omsctl: Omsctl) -> None:
    for argv in (["halt", "--account", "ACC1"], ["resume", "--all"], ["venues"]):
        run = await omsctl(*argv, token=TRADER)
        assert run.code == EXIT_REFUSED
        assert "PERMISSION_DENIED (ADMIN_ONLY)" in run.err


# -- accounts ------------------------------------------------------------------------------


async def test_create_deposit_show_an_account(omsctl: Omsctl) -> None:
    created = await omsctl("--json", "accounts", "create", "ACC9")
    assert created.code == EXIT_OK, created.err
    assert created.json()["account_id"] == "ACC9"
    assert Decimal(created.json()["cash"]) == 0
    again = await omsctl("accounts", "create", "ACC9")
    assert again.code == EXIT_REFUSED and "ALREADY_EXISTS" in again.err
    funded = await omsctl("--json", "accounts", "deposit", "ACC9", "1000.50")
    assert funded.code == EXIT_OK, funded.err
    assert Decimal(funded.json()["cash"]) == Decimal("1000.50")
    shown = (await omsctl("--json", "accounts", "show", "ACC9")).json()
    assert Decimal(shown["cash"]) == Decimal("1000.50")
    assert Decimal(shown["reserved_cash"]) == 0 and shown["positions"] == []
    human = await omsctl("accounts", "show", "ACC9")
    assert "1000.5" in human.out and "positions" in human.out


async def test_bad_deposits_and_unknown_accounts_are_refused(omsctl: Omsctl) -> None:
    assert (await omsctl("accounts", "create", "ACC9")).code == EXIT_OK
    negative = await omsctl("accounts", "deposit", "ACC9", "-5")
    assert negative.code == EXIT_REFUSED and "field amount" in negative.err
    unknown = await omsctl("accounts", "show", "NOBODY")
    assert unknown.code == EXIT_REFUSED and "NOT_FOUND" in unknown.err


async def test_a_trader_sees_only_their_account(omsctl: Omsctl) -> None:
    assert (await omsctl("accounts", "create", "ACC3")).code == EXIT_OK
    run = await omsctl("accounts", "show", "ACC3", token=TRADER)
    assert run.code == EXIT_REFUSED and "PERMISSION_DENIED" in run.err


async def test_risk_limits_are_set_and_enforced(omsctl: Omsctl, admin: OmsClient) -> None:
    await omsctl("accounts", "create", "ACC9")
    await omsctl("accounts", "deposit", "ACC9", "1000000")
    run = await omsctl("--json", "accounts", "limits", "ACC9", "--max-order-quantity", "50")
    assert run.code == EXIT_OK, run.err
    assert run.json()["risk_limits"]["max_order_quantity"] == "50"
    await books_in(admin)
    assert (await resting_buy(admin, account_id="ACC9", quantity="50")).order_id  # type: ignore[attr-defined]
    too_big = await omsctl("submit", "AAPL", "buy", "51", "--limit", "189", "--account", "ACC9")
    assert too_big.code == EXIT_REFUSED, too_big.out


async def test_a_fill_shows_up_as_a_position(omsctl: Omsctl, admin: OmsClient) -> None:
    await omsctl("accounts", "create", "ACC9")
    await omsctl("accounts", "deposit", "ACC9", "100000")
    await books_in(admin)
    await admin.submit_order(
        account_id="ACC9", symbol="AAPL", side="buy", quantity="100", limit_price="190.01"
    )

    async def position() -> str:
        account = await admin.get_account("ACC9")
        return next((p.quantity for p in account.positions if p.symbol == "AAPL"), "")

    assert Decimal(await eventually(position, message="AAPL position")) == 100
    shown = (await omsctl("--json", "accounts", "show", "ACC9")).json()
    assert Decimal(shown["cash"]) < Decimal("100000")

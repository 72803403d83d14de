"""Honest market data over real NATS: a venue killed mid-run leaves the consolidated quote
and routing within the configured age, GetQuote and StreamQuotes say why, and it comes
back when it returns; an open circuit breaker leaves a venue out the same way."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from clients.omsctl import EXIT_OK
from oms_server.app import OmsApp
from oms_server.config import Settings
from protos.oms.v1 import common_pb2, market_data_service_pb2_grpc
from protos.oms.v1 import market_data_service_pb2 as mpb
from tests.support.fixtures import call_metadata, token
from tests.support.market import Market, RoutedOms, oms_running
from tests.support.omsctl import Omsctl
from tests.support.orders import limit_buy
from tests.support.reports import final_order, order_events
from tests.support.waiting import eventually
from venues.connector import VenueConnector
from venues.sim.service import VenueSimulator

#: Short, but above the simulators' 1 s book heartbeat, so a live venue never goes stale.
MAX_AGE_S = 2.0
#: How late after the max age a quote may still show a silent venue (polling, delivery).
SLACK_S = 0.5
VENUES = ["ALPHA", "BRAVO", "CHARLIE"]
STALE = re.compile(r"^book is \d+\.\d s old \(max 2\.0 s\)$")


@dataclasses.dataclass
class FreshOms(RoutedOms):
    """A routed OMS whose books count for MAX_AGE_S."""

    def make_app(self, settings: Settings) -> OmsApp:
        return super().make_app(dataclasses.replace(settings, quote_max_age_s=MAX_AGE_S))


@pytest.fixture
async def fresh_oms(market: Market, sqlite_url: str, tmp_path: Path) -> AsyncIterator[FreshOms]:
    async with oms_running(FreshOms(sqlite_url, tmp_path / "state", market=market)) as running:
        yield running


def quotes(oms: RoutedOms) -> market_data_service_pb2_grpc.MarketDataServiceStub:
    assert oms.channel is not None
    return market_data_service_pb2_grpc.MarketDataServiceStub(oms.channel)


async def quote(oms: RoutedOms, symbol: str = "AAPL") -> mpb.Quote:
    request = mpb.GetQuoteRequest(symbol=symbol)
    return (await quotes(oms).GetQuote(request, metadata=call_metadata())).quote


def connector(oms: RoutedOms) -> VenueConnector:
    assert oms.app is not None and oms.app.connector is not None
    return oms.app.connector


def excluded(q: mpb.Quote) -> dict[str, str]:
    return {e.venue: e.reason for e in q.excluded_venues}


async def kill(market: Market, venue: str) -> None:
    await market.simulators[venue].stop()


async def revive(market: Market, venue: str) -> None:
    """Start the venue again: a new simulator on the market's NATS connection."""
    assert market.host is not None and market.client is not None
    config = next(c for c in market.scenario.venues if c.name == venue)
    simulator = VenueSimulator(market.client, market.scenario, config)
    market.host.simulators[venue] = simulator
    await simulator.start()


async def test_every_venue_quote_carries_the_time_its_venue_published_it(
    fresh_oms: FreshOms,
) -> None:
    q = await quote(fresh_oms)
    assert [v.venue for v in q.venues] == VENUES and not q.excluded_venues
    now_ns = time.time_ns()
    for venue_quote in q.venues:
        age_s = (now_ns - venue_quote.quote_time.ToNanoseconds()) / 1e9
        assert 0 <= age_s <= MAX_AGE_S, (venue_quote.venue, age_s)
    assert q.ask_price == "190.01"  # ALPHA's


async def test_a_killed_venue_leaves_quotes_and_routing_within_the_age_and_comes_back(
    fresh_oms: FreshOms, market: Market
) -> None:
    assert (await quote(fresh_oms)).ask_price == "190.01"
    stream = quotes(fresh_oms).StreamQuotes(
        mpb.StreamQuotesRequest(symbols=["AAPL"]), metadata=call_metadata()
    )
    killed_at = time.monotonic()
    await kill(market, "ALPHA")

    async def alpha_left_out() -> mpb.Quote | None:
        q = await quote(fresh_oms)
        return q if "ALPHA" in excluded(q) else None

    q = await eventually(alpha_left_out, timeout_s=MAX_AGE_S + 5, message="ALPHA left out")
    assert time.monotonic() - killed_at <= MAX_AGE_S + SLACK_S
    assert STALE.match(excluded(q)["ALPHA"]), excluded(q)
    assert [v.venue for v in q.venues] == ["BRAVO", "CHARLIE"]
    assert (q.ask_price, q.ask_size) == ("190.02", "400")  # BRAVO's, not ALPHA's 190.01
    await asyncio.wait_for(_streamed_without(stream, "ALPHA"), MAX_AGE_S + 5)

    await eventually(
        lambda: not connector(fresh_oms).venue_infos()["ALPHA"].healthy,
        timeout_s=MAX_AGE_S,
        message="ALPHA out of routing",
    )
    await _routing_skips(fresh_oms, "ALPHA")

    await revive(market, "ALPHA")

    async def alpha_back() -> bool:
        q = await quote(fresh_oms)
        return not q.excluded_venues and [v.venue for v in q.venues] == VENUES

    await eventually(alpha_back, timeout_s=MAX_AGE_S + 5, message="ALPHA back in the quote")
    assert (await quote(fresh_oms)).ask_price == "190.01"
    assert connector(fresh_oms).venue_infos()["ALPHA"].healthy
    stream.cancel()


async def test_an_open_breaker_leaves_a_venue_with_fresh_books_out_and_says_why(
    fresh_oms: FreshOms, capsys: pytest.CaptureFixture[str]
) -> None:
    breaker = connector(fresh_oms).breaker("ALPHA")
    for at in (1.0, 1.1, 1.2):
        breaker.record_failure(at, "a status request got no answer within 1 s")
    q = await quote(fresh_oms)
    assert excluded(q) == {
        "ALPHA": "circuit breaker open: 3 failures in a row, the last: a status request "
        "got no answer within 1 s"
    }
    assert [v.venue for v in q.venues] == ["BRAVO", "CHARLIE"] and q.ask_price == "190.02"
    assert fresh_oms.app is not None
    run = await Omsctl(fresh_oms.app.address, capsys, default_token=token())("quotes", "AAPL")
    assert run.code == EXIT_OK, run.err
    assert "AAPL: ALPHA left out: circuit breaker open: 3 failures in a row" in run.out
    await eventually(lambda: breaker.state == "CLOSED", timeout_s=15, message="the probe closes it")
    assert not (await quote(fresh_oms)).excluded_venues


async def _streamed_without(
    stream: grpc.aio.UnaryStreamCall[mpb.StreamQuotesRequest, mpb.StreamQuotesResponse],
    venue: str,
) -> None:
    """Read the quote stream until a quote leaves ``venue`` out (saying why)."""
    async for message in stream:
        if venue in excluded(message.quote):
            assert venue not in [v.venue for v in message.quote.venues]
            return


async def _routing_skips(oms: RoutedOms, venue: str) -> None:
    """A sweep that would take the dead venue's cheaper asks fills elsewhere, and an
    order sent DIRECT to it is not sent."""
    sweep = limit_buy("fresh-sweep", quantity="1500", limit_price="190.05")
    order = (await oms.orders.SubmitOrder(sweep, metadata=call_metadata())).order
    done = await final_order(oms, order.order_id)
    assert done.state == common_pb2.ORDER_STATE_FILLED  # type: ignore[attr-defined]
    fills = [e.last_venue for e in await order_events(oms, order.order_id) if e.last_venue]
    assert fills and venue not in fills, fills

    direct = limit_buy(
        "fresh-direct",
        quantity="10",
        limit_price="190.05",
        routing_strategy=common_pb2.ROUTING_STRATEGY_DIRECT,
        venue=venue,
    )
    order = (await oms.orders.SubmitOrder(direct, metadata=call_metadata())).order
    done = await final_order(oms, order.order_id)
    assert done.cum_qty == "0" and venue in done.text, done  # type: ignore[attr-defined]

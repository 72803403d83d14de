"""StreamQuotes: every stream of a symbol sends the one message built per book update."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import pytest

from oms_server.api import auth
from oms_server.api.market_data_service import MarketDataService
from oms_server.domain.access import Principal, Role
from oms_server.domain.instruments import Instrument
from oms_server.engine.ports import VenueStatus
from protos.oms.v1 import market_data_service_pb2 as pb
from router.book import VenueBook
from router.freshness import QuoteSources
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(10)

AAPL = Instrument("AAPL", Decimal("0.01"), Decimal("1"), Decimal("190.00"))
STREAMS = 30


class Directory:
    """A venue directory with no books that counts how often a quote is built."""

    def __init__(self) -> None:
        self.builds = 0
        self.listeners: list[Callable[[VenueBook], None]] = []

    def venue_statuses(self) -> Sequence[VenueStatus]:
        return ()

    def books(self, symbol: str) -> Mapping[str, VenueBook]:
        return {}

    def quote_sources(self, symbol: str) -> QuoteSources:
        self.builds += 1
        return QuoteSources()

    def add_book_listener(self, listener: Callable[[VenueBook], None]) -> None:
        self.listeners.append(listener)


class Stream:
    """The servicer context of one stream: what it wrote."""

    def __init__(self) -> None:
        self.written: list[Any] = []

    async def write(self, message: Any) -> None:
        self.written.append(message)


async def test_many_streams_cost_one_quote_build_per_book_update() -> None:
    directory = Directory()
    service = MarketDataService({"AAPL": AAPL}, directory)
    auth._current.set(Principal("viewer", Role.TRADER, frozenset({"ACC1"})))
    streams = [Stream() for _ in range(STREAMS)]
    request = pb.StreamQuotesRequest(symbols=["AAPL"])
    tasks = [asyncio.create_task(service.StreamQuotes(request, s)) for s in streams]  # type: ignore[arg-type]
    await eventually(lambda: all(len(s.written) == 1 for s in streams), message="first quotes")
    for listener in directory.listeners:
        listener(VenueBook("ALPHA", "AAPL"))
    await eventually(lambda: all(len(s.written) == 2 for s in streams), message="the update")
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert directory.builds == 2  # the first quote and the update, each built once
    sent = {bytes(s.written[1]) for s in streams}
    assert len(sent) == 1
    assert pb.StreamQuotesResponse.FromString(sent.pop()).quote.symbol == "AAPL"

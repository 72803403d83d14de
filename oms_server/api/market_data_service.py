"""oms.v1.MarketDataService: instruments, the consolidated quote, and quote streams."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

import grpc

from oms_server.api import mapping
from oms_server.api.auth import current_principal
from oms_server.api.errors import rpc_errors
from oms_server.domain.decimals import fmt
from oms_server.domain.errors import ValidationError
from oms_server.domain.instruments import Instrument
from oms_server.engine.ports import VenueDirectory
from protos.oms.v1 import market_data_service_pb2 as pb
from protos.oms.v1 import market_data_service_pb2_grpc
from router.book import VenueBook
from router.freshness import PublishedBook

#: Symbols a StreamQuotes call may name.
MAX_STREAM_SYMBOLS = 100
#: How long a built stream message is shared by every quote stream (a book update
#: rebuilds it at once): one build per symbol per update, not one per subscriber.
STREAM_QUOTE_REUSE_NS = 50_000_000
#: A stream sends a symbol's quote at most this often: the latest one (conflated).
STREAM_QUOTE_MIN_INTERVAL_S = 0.1
#: Wake-ups per second all quote streams together may cost: with more streams than
#: this allows at the interval above, each waits longer between sends, so the CPU
#: quote streams take is bounded whatever their number (writes cost per stream).
MAX_STREAM_WAKES_PER_S = 1000


class MarketDataService(market_data_service_pb2_grpc.MarketDataServiceServicer):
    """Serves the consolidated book the router reads."""

    def __init__(self, instruments: Mapping[str, Instrument], venues: VenueDirectory) -> None:
        self._instruments = instruments
        self._venues = venues
        self._watchers: set[_QuoteWatcher] = set()
        #: The serialized StreamQuotesResponse of each symbol, with when it was built.
        self._messages: dict[str, tuple[int, bytes]] = {}
        venues.add_book_listener(self._on_book)

    @rpc_errors
    async def ListInstruments(
        self, request: pb.ListInstrumentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListInstrumentsResponse:
        current_principal()
        return pb.ListInstrumentsResponse(
            instruments=[
                pb.Instrument(
                    symbol=i.symbol,
                    tick_size=fmt(i.tick_size),
                    lot_size=fmt(i.lot_size),
                    reference_price=fmt(i.reference_price),
                )
                for i in self._instruments.values()
            ]
        )

    @rpc_errors
    async def GetQuote(
        self, request: pb.GetQuoteRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetQuoteResponse:
        current_principal()
        instrument = mapping.instrument_of(request.symbol, self._instruments)
        return pb.GetQuoteResponse(quote=self.quote(instrument.symbol))

    @rpc_errors
    # Written with context.write (grpc.aio allows it), not as a generator: one write per
    # batch of messages, and the stub's AsyncIterator return type does not describe that.
    async def StreamQuotes(  # type: ignore[override]
        self, request: pb.StreamQuotesRequest, context: grpc.aio.ServicerContext
    ) -> None:
        current_principal()
        if len(request.symbols) > MAX_STREAM_SYMBOLS:
            raise ValidationError("symbols", f"at most {MAX_STREAM_SYMBOLS} symbols")
        symbols = [mapping.instrument_of(s, self._instruments).symbol for s in request.symbols]
        watcher = _QuoteWatcher(frozenset(symbols or self._instruments))
        self._watchers.add(watcher)
        try:
            # bytes: the stream's serializer sends them as they are (see auth.wrap)
            for symbol in sorted(watcher.symbols):
                await context.write(self._stream_message(symbol))
            while True:
                for symbol in await watcher.changed():
                    await context.write(self._stream_message(symbol))
                await asyncio.sleep(self._pace_s())
        finally:
            self._watchers.discard(watcher)

    def _pace_s(self) -> float:
        """Seconds a stream waits after a send before it sends again (updates meanwhile
        are conflated): longer as streams grow past MAX_STREAM_WAKES_PER_S's share."""
        return max(STREAM_QUOTE_MIN_INTERVAL_S, len(self._watchers) / MAX_STREAM_WAKES_PER_S)

    def quote(self, symbol: str) -> pb.Quote:
        """The consolidated quote of the venues whose books count now, each venue's own
        quote with its time, and the venues left out with why."""
        sources = self._venues.quote_sources(symbol)
        consolidated = sources.consolidated()
        quote = pb.Quote(
            symbol=symbol,
            venues=[_venue_quote(published) for published in sources.used],
            excluded_venues=[
                pb.ExcludedVenue(venue=e.venue, reason=e.reason) for e in sources.excluded
            ],
        )
        if consolidated.best_bid is not None:
            quote.bid_price = fmt(consolidated.best_bid.price)
            quote.bid_size = fmt(consolidated.best_bid.size)
        if consolidated.best_ask is not None:
            quote.ask_price = fmt(consolidated.best_ask.price)
            quote.ask_size = fmt(consolidated.best_ask.size)
        quote.quote_time.FromNanoseconds(time.time_ns())
        return quote

    def _stream_message(self, symbol: str) -> bytes:
        """The stream message of ``symbol``'s quote, built once for every stream that
        sends it within ``STREAM_QUOTE_REUSE_NS`` of the last book update."""
        now = time.monotonic_ns()
        built = self._messages.get(symbol)
        if built is not None and now - built[0] < STREAM_QUOTE_REUSE_NS:
            return built[1]
        message = pb.StreamQuotesResponse(quote=self.quote(symbol)).SerializeToString()
        self._messages[symbol] = (now, message)
        return message

    def _on_book(self, book: VenueBook) -> None:
        self._messages.pop(book.symbol, None)
        for watcher in self._watchers:
            watcher.mark(book.symbol)


class _QuoteWatcher:
    """Conflates updates: a slow reader sees the latest quote, never a growing queue."""

    def __init__(self, symbols: frozenset[str]) -> None:
        self.symbols = symbols
        self._dirty: set[str] = set()
        self._event = asyncio.Event()

    def mark(self, symbol: str) -> None:
        if symbol in self.symbols:
            self._dirty.add(symbol)
            self._event.set()

    async def changed(self) -> list[str]:
        await self._event.wait()
        self._event.clear()
        dirty, self._dirty = self._dirty, set()
        return sorted(dirty)


def _venue_quote(published: PublishedBook) -> pb.VenueQuote:
    book = published.book
    quote = pb.VenueQuote(venue=book.venue)
    quote.quote_time.FromNanoseconds(published.published_ns)
    if book.bids:
        quote.bid_price, quote.bid_size = fmt(book.bids[0].price), fmt(book.bids[0].size)
    if book.asks:
        quote.ask_price, quote.ask_size = fmt(book.asks[0].price), fmt(book.asks[0].size)
    return quote

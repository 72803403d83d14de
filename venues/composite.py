"""Venues on several transports behind one VenuePort: each child goes to the connector
of its venue (NATS simulators, FIX venues), and each connector sees only its own
venues' children when it reconciles.

Books, venue infos, statuses and quote sources are the union of the parts'. A FIX
venue has no book, so book-driven strategies pass it by; DIRECT routing reaches it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Protocol

from oms_server.domain.child import ChildOrder, VenueOrderStatus, VenueReport
from oms_server.engine.ports import ExecutionSink, VenueStatus
from router.book import VenueBook, VenueInfo
from router.circuit_breaker import CircuitBreaker
from router.freshness import QuoteSources


class VenueSide(Protocol):
    """A venue connector as the OMS process runs it: the engine's VenuePort, the API's
    VenueDirectory, a lifecycle and per-venue breakers."""

    async def start(self, sink: ExecutionSink) -> None: ...

    async def stop(self) -> None: ...

    def books(self, symbol: str) -> Mapping[str, VenueBook]: ...

    @property
    def publishes_books(self) -> bool: ...

    def venue_infos(self) -> Mapping[str, VenueInfo]: ...

    def send_new(self, child: ChildOrder) -> None: ...

    def send_cancel(self, child: ChildOrder) -> None: ...

    def breaker(self, venue: str) -> CircuitBreaker: ...

    def venue_statuses(self) -> Sequence[VenueStatus]: ...

    def quote_sources(self, symbol: str) -> QuoteSources: ...

    def add_book_listener(self, listener: Callable[[VenueBook], None]) -> None: ...


class ScopedSink:
    """The engine's ExecutionSink as one connector sees it: only its venues' children."""

    def __init__(self, sink: ExecutionSink, venues: frozenset[str]) -> None:
        self._sink = sink
        self._venues = venues

    async def apply_venue_reports(self, reports: list[VenueReport]) -> None:
        await self._sink.apply_venue_reports(reports)

    async def reconcile(self, venue: str, statuses: Mapping[str, VenueOrderStatus | None]) -> None:
        await self._sink.reconcile(venue, statuses)

    def stale_children(self) -> list[ChildOrder]:
        return [c for c in self._sink.stale_children() if c.venue in self._venues]

    def open_children(self) -> list[ChildOrder]:
        return [c for c in self._sink.open_children() if c.venue in self._venues]

    def sweep_slice(self, limit: int) -> list[ChildOrder]:
        return [c for c in self._sink.sweep_slice(limit) if c.venue in self._venues]

    def working_children(self, venue: str) -> int:
        return self._sink.working_children(venue)

    def on_book(self, book: VenueBook) -> None:
        self._sink.on_book(book)


class CompositeVenues:
    """Several connectors, each serving the venues named with it."""

    def __init__(self, parts: Sequence[tuple[frozenset[str], VenueSide]]) -> None:
        if not parts:
            raise ValueError("no venue connectors")
        self._parts = list(parts)
        self._by_venue = {name: part for names, part in parts for name in names}
        self._infos: Mapping[str, VenueInfo] = MappingProxyType({})
        self._infos_of: tuple[int, ...] = ()

    def part_of(self, venue: str) -> VenueSide:
        return self._by_venue[venue]

    async def start(self, sink: ExecutionSink) -> None:
        for names, part in self._parts:
            await part.start(ScopedSink(sink, names))

    async def stop(self) -> None:
        for _, part in reversed(self._parts):
            await part.stop()

    def books(self, symbol: str) -> Mapping[str, VenueBook]:
        merged: Mapping[str, VenueBook] = {}
        for _, part in self._parts:
            books = part.books(symbol)
            if books:
                merged = books if not merged else {**merged, **books}
        return merged

    @property
    def publishes_books(self) -> bool:
        return any(part.publishes_books for _, part in self._parts)

    def venue_infos(self) -> Mapping[str, VenueInfo]:
        """The union of the parts' infos: the same object while none of theirs changes."""
        parts = [part.venue_infos() for _, part in self._parts]
        identities = tuple(id(infos) for infos in parts)
        if identities != self._infos_of:
            self._infos = MappingProxyType({k: v for infos in parts for k, v in infos.items()})
            self._infos_of = identities
        return self._infos

    def send_new(self, child: ChildOrder) -> None:
        self._part(child.venue).send_new(child)

    def send_cancel(self, child: ChildOrder) -> None:
        self._part(child.venue).send_cancel(child)

    def _part(self, venue: str) -> VenueSide:
        part = self._by_venue.get(venue)
        return part if part is not None else self._parts[0][1]

    def breaker(self, venue: str) -> CircuitBreaker:
        return self._by_venue[venue].breaker(venue)

    def venue_statuses(self) -> Sequence[VenueStatus]:
        return [status for _, part in self._parts for status in part.venue_statuses()]

    def quote_sources(self, symbol: str) -> QuoteSources:
        sources = [part.quote_sources(symbol) for _, part in self._parts]
        excluded = sorted((e for s in sources for e in s.excluded), key=lambda e: e.venue)
        return QuoteSources.of((u for s in sources for u in s.used), excluded)

    def add_book_listener(self, listener: Callable[[VenueBook], None]) -> None:
        for _, part in self._parts:
            part.add_book_listener(listener)

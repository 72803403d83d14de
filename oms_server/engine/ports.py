"""What the engine needs from the venue side, as a protocol (the NATS connector implements it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from oms_server.domain.child import ChildOrder
from router.book import VenueBook, VenueInfo


class VenuePort(Protocol):
    """Market data, venue health and the outbound order path."""

    def books(self, symbol: str) -> Mapping[str, VenueBook]:
        """The latest book of ``symbol`` at every venue that published one."""
        ...

    def venue_infos(self) -> Mapping[str, VenueInfo]:
        """Every venue with its fees, latency and routability (circuit breaker)."""
        ...

    def send_new(self, child: ChildOrder) -> None:
        """Send a new child order; called only after the child is stored."""
        ...

    def send_cancel(self, child: ChildOrder) -> None:
        """Ask the venue to cancel a child's rest."""
        ...

"""The routing of an OMS without venues: orders rest in the OMS and nothing is sent.

A null object in place of ``ParentRouting``, so no command needs a "no venues" branch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal

from oms_server.domain.child import ChildOrder, VenueReport
from oms_server.domain.errors import UnavailableError
from oms_server.domain.instruments import Instrument
from oms_server.domain.order import Order, OrderRequest
from oms_server.histograms import Histogram

NO_VENUES = "no venues are connected"


class NoVenueRouting:
    """Accepts orders without routing them; refuses what only venues could cause."""

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self._instruments = instruments
        self.children: dict[str, ChildOrder] = {}
        self.ignored_reports = 0
        self.refused_overfills = 0
        self.repegs = 0
        self.route_to_fill = Histogram()  # no venue, no fill: stays empty
        self.on_sooner: Callable[[], None] = _nothing  # it holds no timers

    def load(self, children: Iterable[ChildOrder], child_counts: dict[str, int]) -> None:
        return None

    def check(self, request: OrderRequest) -> None:
        return None  # any venue: the order rests in the OMS

    def on_accepted(self, order: Order) -> None:
        return None  # it rests in the OMS

    def route(self, order: Order, *, rest_only: bool = False) -> None:
        return None

    def cancel(self, order: Order) -> bool:
        return True  # nothing is live at a venue: the order can end now

    def live_children(self, order: Order) -> list[ChildOrder]:
        return []

    def adopt(self, old: Order, new: Order) -> None:
        return None

    def reference_price(self, symbol: str) -> Decimal | None:
        return self._instruments[symbol].reference_price

    def apply(self, report: VenueReport) -> None:
        raise UnavailableError(NO_VENUES)

    def stale_children(self, older_than_ns: int) -> list[ChildOrder]:
        return []

    def open_children(self) -> list[ChildOrder]:
        return []

    def sweep_slice(self, limit: int) -> list[ChildOrder]:
        return []

    def working_children(self, venue: str) -> int:
        return 0

    def mark_unknown(self, child_order_id: str, reason: str) -> None:
        raise UnavailableError(NO_VENUES)

    def note_resend(self, child_order_id: str) -> ChildOrder | None:
        raise UnavailableError(NO_VENUES)

    def has_stops(self, symbol: str) -> bool:
        return False

    def trigger_stops(self, symbol: str) -> int:
        return 0

    def run_repegs(self) -> int | None:
        return None  # nothing rests at a venue, so nothing re-pegs


def _nothing() -> None:
    return None

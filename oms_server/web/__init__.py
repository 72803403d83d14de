"""Adapter: the live operator page (HTTP + Server-Sent Events) over the engine and its ports.

``oms up`` serves it on ``OMS_WEB_ADDR`` (default 127.0.0.1:8080, ``off`` for none), in
the OMS's event loop: a token prompt, then orders, fills, positions with P&L, venues and,
for admins, the kill switch, live and resumable by sequence.
"""

from __future__ import annotations

from collections.abc import Mapping

from oms_server.domain.instruments import Instrument
from oms_server.engine.engine import OrderEngine
from oms_server.engine.hub import ReportHub
from oms_server.engine.ports import OrderHistory, VenueDirectory
from oms_server.web.app import OperatorSite
from oms_server.web.feed import FeedSources
from oms_server.web.server import OperatorWeb

__all__ = ["OperatorSite", "OperatorWeb", "operator_web"]


def operator_web(
    addr: str,
    *,
    engine: OrderEngine,
    history: OrderHistory,
    hub: ReportHub,
    venues: VenueDirectory,
    instruments: Mapping[str, Instrument],
    auth_secret: str,
) -> OperatorWeb:
    """The operator page's server for one OMS, not started (``await start()``)."""
    sources = FeedSources(engine, history, hub, venues, instruments)
    return OperatorWeb(OperatorSite(sources, auth_secret), addr)

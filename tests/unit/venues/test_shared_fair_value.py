"""Venues sharing a fair-value walk keep a consolidated book that never crosses."""

from __future__ import annotations

from decimal import Decimal

from oms_server.domain.instruments import Instrument
from venues.sim.liquidity import MarketMaker
from venues.sim.matching import MatchingEngine

AAPL = Instrument("AAPL", Decimal("0.01"), Decimal("1"), Decimal("190.00"))


def test_venues_on_one_shared_walk_never_cross_each_other() -> None:
    engines = [MatchingEngine([AAPL]) for _ in range(3)]
    makers = [MarketMaker(e, seed=100 + i, shared_mid_seed=42) for i, e in enumerate(engines)]
    for _ in range(500):
        for maker in makers:
            maker.step()
        tops = [e.top_of_book("AAPL", 1) for e in engines]
        best_bid = max(t.bids[0][0] for t in tops)
        best_ask = min(t.asks[0][0] for t in tops)
        assert best_bid < best_ask
    assert len({maker.mid("AAPL") for maker in makers}) == 1


def test_independent_walks_drift_apart() -> None:
    engines = [MatchingEngine([AAPL]) for _ in range(2)]
    makers = [MarketMaker(e, seed=100 + i) for i, e in enumerate(engines)]
    for _ in range(200):
        for maker in makers:
            maker.step()
    assert makers[0].mid("AAPL") != makers[1].mid("AAPL")

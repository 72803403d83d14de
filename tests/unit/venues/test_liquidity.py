"""The seeded market maker: determinism, quoting on the grid, fills against OMS orders."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms_server.domain.child import Liquidity
from oms_server.domain.decimals import is_multiple_of
from oms_server.domain.enums import OrderType, Side, TimeInForce
from oms_server.domain.instruments import Instrument
from venues.sim.events import Filled, MatchResult, OrderStatus, Owner
from venues.sim.liquidity import MarketMaker, MarketMakerConfig
from venues.sim.matching import MatchingEngine
from venues.sim.order_book import BookDepth, NewOrder

D = Decimal
AAPL = Instrument("AAPL", D("0.01"), D("1"), D("190.00"))
BTC = Instrument("BTC", D("0.5"), D("0.001"), D("60000"))
PENNY = Instrument("PENNY", D("0.01"), D("10"), D("0.02"))
STEPS = 30


def run(seed: int, steps: int = STEPS) -> tuple[list[MatchResult], list[BookDepth]]:
    engine = MatchingEngine([AAPL, BTC], taker_fee_bps=D("0.3"), maker_rebate_bps=D("0.2"))
    maker = MarketMaker(engine, seed)
    results = [maker.step() for _ in range(steps)]
    depths = [engine.top_of_book(symbol, 10) for symbol in ("AAPL", "BTC")]
    return results, depths


def test_same_seed_gives_the_same_sequence() -> None:
    assert run(7) == run(7)


def test_another_seed_gives_another_sequence() -> None:
    assert run(7)[1] != run(8)[1]


@pytest.mark.parametrize("instrument", [AAPL, BTC, PENNY])
def test_quotes_sit_on_the_grid_and_never_cross(instrument: Instrument) -> None:
    engine = MatchingEngine([instrument])
    maker = MarketMaker(engine, 1, MarketMakerConfig(levels=4))
    for _ in range(STEPS):
        maker.step()
        top = engine.top_of_book(instrument.symbol, 10)
        assert len(top.bids) == len(top.asks) == 4
        assert top.bids[0][0] < top.asks[0][0]
        for price, size in [*top.bids, *top.asks]:
            assert price > 0
            assert is_multiple_of(price, instrument.tick_size)
            assert is_multiple_of(size, instrument.lot_size)


def test_each_step_replaces_the_previous_quotes() -> None:
    engine = MatchingEngine([AAPL])
    maker = MarketMaker(engine, 3, MarketMakerConfig(levels=2))
    first = maker.step()
    second = maker.step()
    placed = {e.order_id for e in first.events}
    canceled = {e.order_id for e in second.events if e.status is OrderStatus.CANCELED}
    assert canceled == placed
    assert second.reports == ()
    assert sum(size for _, size in engine.top_of_book("AAPL", 10).bids) > 0


def test_mid_walks_in_whole_ticks_within_the_step_limit() -> None:
    engine = MatchingEngine([AAPL])
    maker = MarketMaker(engine, 5, MarketMakerConfig(max_step_ticks=2))
    previous = AAPL.reference_price
    for _ in range(STEPS):
        maker.step()
        mid = maker.mid("AAPL")
        assert mid is not None and is_multiple_of(mid, AAPL.tick_size)
        assert abs(mid - previous) <= 2 * AAPL.tick_size
        previous = mid


def test_starts_from_the_seeded_book_mid() -> None:
    engine = MatchingEngine([AAPL])
    engine.seed_book("AAPL", bids=[["100.00", "5"]], asks=[["100.10", "5"]])
    maker = MarketMaker(engine, 2, MarketMakerConfig(max_step_ticks=0))
    result = maker.step()
    assert maker.mid("AAPL") == D("100.05")
    assert {e.order_id for e in result.events if e.status is OrderStatus.CANCELED} == {
        "seed-AAPL-bids-0",
        "seed-AAPL-asks-0",
    }


def test_quotes_that_cross_a_resting_oms_order_fill_it() -> None:
    engine = MatchingEngine([AAPL], taker_fee_bps=D("0.3"), maker_rebate_bps=D("0.2"))
    engine.submit(
        NewOrder("c1", "AAPL", Side.BUY, OrderType.LIMIT, TimeInForce.GTC, D(5), D("195.00"))
    )
    result = MarketMaker(engine, 9).step()
    fills = [e for e in result.reports if isinstance(e, Filled)]
    assert [e.order_id for e in fills] == ["c1"]
    assert fills[0].liquidity is Liquidity.MAKER
    assert fills[0].fee < 0
    assert engine.status("c1").status is OrderStatus.FILLED
    assert all(e.owner is Owner.OMS for e in result.reports)

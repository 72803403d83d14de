"""The peer beside `capacity`: NautilusTrader's market orders per second, in process.

One NautilusTrader BacktestEngine with one simulated exchange (SIM, a netting margin
account) and one FX instrument, fed a quote tick per order. A strategy submits a market
order on each tick (alternately buy and sell) through NautilusTrader's own path (order
factory, risk engine, execution engine, the simulated exchange's matching engine) and
counts the fills it is told of. The figure is orders filled per second of the engine's
run (wall clock: submitted → filled, market data included), measured in a subprocess
(``python -m clients.bench.peer``) so that the peer never shares the load generator's
interpreter. Logging is at ERROR and the post-run analysis is off: neither is the work
of an order.

NautilusTrader is optional (``pip install '.[peer]'``); without it the figure says so.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from clients.bench.procs import child_env

#: The peer's package, installed by the `peer` extra.
PEER_PACKAGE = "nautilus_trader"
INSTALL_HINT = "pip install '.[peer]'"
#: Market orders one peer run submits (a few seconds here).
DEFAULT_PEER_ORDERS = 5000
#: Longest a peer run may take, start-up included.
PEER_TIMEOUT_S = 120.0
#: Simulated time between quote ticks: one order per tick stays far below the risk
#: engine's default submit throttle (100 per second of simulated time).
TICK_INTERVAL_NS = 1_000_000_000
_INSTRUMENT = "AUD/USD"
_ORDER_QTY = 100_000
_BALANCE_USD = 10_000_000


def peer_installed() -> bool:
    """True when NautilusTrader can be imported here."""
    return importlib.util.find_spec(PEER_PACKAGE) is not None


def absent() -> dict[str, Any]:
    """The peer's figure when NautilusTrader is not installed."""
    return {"installed": False, "hint": INSTALL_HINT}


async def measure_peer(orders: int) -> dict[str, Any]:
    """The peer's market-order rate from a subprocess, or ``absent()``."""
    if not peer_installed():
        return absent()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "clients.bench.peer",
        f"--orders={orders}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env({}),
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), PEER_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        return {"installed": True, "error": f"no result within {PEER_TIMEOUT_S:g} s"}
    if process.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return {"installed": True, "error": f"exit {process.returncode}: {tail[0][:200]}"}
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


def run_peer(orders: int) -> dict[str, Any]:
    """Build the backtest, run ``orders`` market orders through it, return the figures."""
    import nautilus_trader

    engine, taker = _engine(orders)
    wall_before, cpu_before = time.perf_counter(), time.process_time()
    engine.run()
    wall_s = time.perf_counter() - wall_before
    cpu_s = time.process_time() - cpu_before
    engine.dispose()
    return {
        "installed": True,
        "version": nautilus_trader.__version__,
        "orders": taker.submitted,
        "filled": taker.filled,
        "wall_s": round(wall_s, 3),
        "cpu_s": round(cpu_s, 3),
        "orders_per_s": round(taker.filled / wall_s, 1) if wall_s else 0.0,
        "cpu_ms_per_order": round(cpu_s * 1000 / taker.filled, 3) if taker.filled else None,
    }


def _engine(orders: int) -> tuple[Any, Any]:
    from nautilus_trader.backtest.config import BacktestEngineConfig
    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.common.config import LoggingConfig
    from nautilus_trader.model.currencies import USD
    from nautilus_trader.model.data import QuoteTick
    from nautilus_trader.model.enums import AccountType, OmsType
    from nautilus_trader.model.identifiers import Venue
    from nautilus_trader.model.objects import Money, Price, Quantity
    from nautilus_trader.test_kit.providers import TestInstrumentProvider

    config = BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR"), run_analysis=False)
    engine = BacktestEngine(config)
    engine.add_venue(
        Venue("SIM"),
        OmsType.NETTING,
        AccountType.MARGIN,
        [Money(_BALANCE_USD, USD)],
        base_currency=USD,
    )
    instrument = TestInstrumentProvider.default_fx_ccy(_INSTRUMENT)
    engine.add_instrument(instrument)
    bid, ask = Price.from_str("0.70000"), Price.from_str("0.70002")
    size = Quantity.from_int(_BALANCE_USD)
    times = (n * TICK_INTERVAL_NS for n in range(1, orders + 1))
    engine.add_data([QuoteTick(instrument.id, bid, ask, size, size, t, t) for t in times])
    taker = _taker(instrument)
    engine.add_strategy(taker)
    return engine, taker


def _taker(instrument: Any) -> Any:
    """A strategy that sends a market order on every quote tick and counts the fills."""
    from nautilus_trader.config import StrategyConfig
    from nautilus_trader.model.enums import OrderSide
    from nautilus_trader.trading.strategy import Strategy

    class MarketTaker(Strategy):
        def __init__(self) -> None:
            super().__init__(StrategyConfig(strategy_id="TAKER-001"))
            self.submitted = 0
            self.filled = 0

        def on_start(self) -> None:
            self.subscribe_quote_ticks(instrument.id)

        def on_quote_tick(self, tick: object) -> None:
            side = OrderSide.BUY if self.submitted % 2 == 0 else OrderSide.SELL
            quantity = instrument.make_qty(_ORDER_QTY)
            self.submitted += 1
            self.submit_order(self.order_factory.market(instrument.id, side, quantity))

        def on_order_filled(self, event: object) -> None:
            self.filled += 1

    return MarketTaker()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m clients.bench.peer",
        description="NautilusTrader's in-process market orders per second (JSON on stdout).",
    )
    parser.add_argument("--orders", type=int, default=DEFAULT_PEER_ORDERS)
    args = parser.parse_args(argv)
    result = run_peer(args.orders) if peer_installed() else absent()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

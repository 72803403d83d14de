"""A property of the async engine over a real SQLite store: reused keys by FIX rules.

Hypothesis draws submits over a few (account, client_order_id) keys, each with one of
several sets of terms, and sends them concurrently through ``OrderEngine`` (the single
writer, its group commits, its store look-ups), in one or two waves with a restart in
between, keeping few keys in memory so that some are answered by the store. After each
wave:

- every key has exactly one order, and its terms are those of one of its submits;
- every submit that succeeded answered that order, with the same terms as its own;
- every submit that failed was refused as a duplicate (ALREADY_EXISTS) naming that
  order, and its terms differ from the order's;
- the refused ones changed nothing: one NEW event per order and no other, one stored
  order per key, and reserved cash is exactly what the orders reserve.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_server.domain.access import Principal, Role
from oms_server.domain.accounts import buy_reservation
from oms_server.domain.decimals import ZERO
from oms_server.domain.duplicates import DuplicateClientOrderIdError, first_differing_term
from oms_server.domain.enums import OrderType, RoutingStrategy, Side, TimeInForce
from oms_server.domain.instruments import Instrument
from oms_server.domain.order import Order, OrderRequest
from oms_server.engine import idempotency
from oms_server.engine.engine import OrderEngine
from oms_server.engine.hub import ReportHub
from oms_server.store.repository import Store

INSTRUMENTS = {
    symbol: Instrument(symbol, Decimal("0.01"), Decimal(1), Decimal(100))
    for symbol in ("AAPL", "MSFT")
}
ACCOUNTS = ("A", "B")
TRADER = Principal("trader", Role.TRADER, frozenset(ACCOUNTS))
#: The sets of terms a key's submits choose from (all buys the accounts can afford).
TERMS: tuple[dict[str, object], ...] = (
    {},
    {"quantity": Decimal(11)},
    {"limit_price": Decimal("99.50")},
    {"time_in_force": TimeInForce.GTC},
    {"symbol": "MSFT"},
)
WAVE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Submit:
    account_id: str
    key: int
    terms: int

    def request(self) -> OrderRequest:
        fields: dict[str, object] = {
            "symbol": "AAPL",
            "side": Side.BUY,
            "order_type": OrderType.LIMIT,
            "time_in_force": TimeInForce.DAY,
            "quantity": Decimal(10),
            "limit_price": Decimal("100.00"),
            "stop_price": None,
            "routing_strategy": RoutingStrategy.BEST_PRICE,
            "venue": "",
            **TERMS[self.terms],
        }
        return OrderRequest(self.account_id, f"k{self.key}", **fields)  # type: ignore[arg-type]


submits = st.builds(
    Submit,
    account_id=st.sampled_from(ACCOUNTS),
    key=st.integers(0, 3),
    terms=st.integers(0, len(TERMS) - 1),
)
waves = st.lists(st.lists(submits, min_size=1, max_size=25), min_size=1, max_size=2)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(waves=waves, kept=st.sampled_from([1, 2, 1000]))
def test_one_order_per_key_and_refused_duplicates_change_nothing(
    waves: list[list[Submit]], kept: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'oms.db'}"
        asyncio.run(asyncio.wait_for(run_waves(url, waves, kept), WAVE_TIMEOUT_S * len(waves)))


async def run_waves(url: str, waves: list[list[Submit]], kept: int) -> None:
    """Each wave concurrently on a freshly started engine (the first opens the accounts)."""
    orders: dict[tuple[str, str], Order] = {}
    for number, wave in enumerate(waves):
        store = await Store.open(url)
        try:
            with mock.patch.object(idempotency, "CLIENT_IDS_KEPT", kept):
                engine = OrderEngine(store, INSTRUMENTS, ReportHub())
            await engine.start()
            try:
                if number == 0:
                    await open_accounts(engine)
                results = await asyncio.gather(
                    *(engine.submit(s.request(), TRADER) for s in wave), return_exceptions=True
                )
                await check_wave(engine, store, wave, results, orders)
            finally:
                await engine.stop()
        finally:
            await store.close()


async def open_accounts(engine: OrderEngine) -> None:
    for account_id in ACCOUNTS:
        await engine.create_account(account_id)
        await engine.deposit(account_id, Decimal(1_000_000))


async def check_wave(
    engine: OrderEngine,
    store: Store,
    wave: list[Submit],
    results: list[Order | BaseException],
    orders: dict[tuple[str, str], Order],
) -> None:
    for submit, result in zip(wave, results, strict=True):
        request = submit.request()
        key = (request.account_id, request.client_order_id)
        if isinstance(result, Order):
            held = orders.setdefault(key, result)
            assert result.order_id == held.order_id
            assert first_differing_term(held, request) is None
        else:
            assert isinstance(result, DuplicateClientOrderIdError), result
            held = orders[key] if key in orders else await stored_order(store, key)
            orders.setdefault(key, held)
            assert result.order_id == held.order_id
            assert result.term == first_differing_term(held, request) is not None
    assert await store.count("orders") == len(orders)
    assert await store.count("order_events") == len(orders)  # one NEW each, nothing else
    for account_id in ACCOUNTS:
        expected = sum(
            (
                buy_reservation(o.quantity, o.limit_price or ZERO, ZERO).cash
                for (acc, _), o in orders.items()
                if acc == account_id
            ),
            ZERO,
        )
        assert engine.account(account_id).reserved_cash == expected


async def stored_order(store: Store, key: tuple[str, str]) -> Order:
    """The order of a key whose every submit in this wave was refused (made earlier)."""
    order_id = await store.order_id_for_client_id(*key)
    assert order_id is not None, f"{key} was refused but has no order"
    order = await store.get_order(order_id)
    assert order is not None
    return order

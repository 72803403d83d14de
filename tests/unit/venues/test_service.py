"""VenueSimulator without a broker: report messages, and orders handled when due, in order."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from oms_server import telemetry as tracing
from oms_server.domain.decimals import fmt
from oms_server.domain.enums import OrderType, Side, TimeInForce
from protos.venue.v1 import venue_pb2 as v
from tests.support.waiting import eventually
from venues import wire
from venues.scenario import parse_scenario
from venues.sim.events import OrderEvent, OrderStatus, Owner, Rejected
from venues.sim.order_book import NewOrder
from venues.sim.service import FAULT_REJECT_TEXT, MISSING_FIELDS_TEXT, VenueSimulator
from venues.tasks import cancel_and_wait

pytestmark = pytest.mark.timeout(30)

SCENARIO = """
seed = 7
liquidity = "static"

[[instruments]]
symbol = "AAPL"
tick_size = "0.01"
lot_size = "1"
reference_price = "190.00"

[[venues]]
name = "ALPHA"
taker_fee_bps = "0.3"
maker_rebate_bps = "0.2"
latency_ms = 50
[[venues.books]]
symbol = "AAPL"
bids = [["189.99", "500"]]
asks = [["190.01", "300"], ["190.02", "800"]]
"""


class StubNats:
    """Enough of a NATS client to build a simulator; nothing here touches the network."""

    def jetstream(self) -> object:
        return object()


@dataclass
class Reports:
    """Stands in for the report publisher: keeps what would be published."""

    payloads: list[bytes] = field(default_factory=list)

    def publish(self, payload: bytes, headers: dict[str, str] | None = None) -> None:
        self.payloads.append(payload)

    def decoded(self) -> list[v.ExecutionReport]:
        return [r for payload in self.payloads for r in wire.reports_in_payload(payload)]


@dataclass
class StubMsg:
    data: bytes
    headers: dict[str, str] | None = None


def new_order(child_id: str, price: str) -> v.OrderEnvelope:
    """An IOC buy of 1 AAPL at ``price`` (a string, so it can be malformed)."""
    body = v.NewOrder(
        child_order_id=child_id,
        symbol="AAPL",
        side=v.SIDE_BUY,
        order_type=v.ORDER_TYPE_LIMIT,
        time_in_force=v.TIME_IN_FORCE_IOC,
        quantity="1",
        limit_price=price,
    )
    return v.OrderEnvelope(new_order=body)


def simulator() -> tuple[VenueSimulator, Reports]:
    scenario = parse_scenario(SCENARIO, "test")
    sim = VenueSimulator(StubNats(), scenario, scenario.venues[0])  # type: ignore[arg-type]
    for book in sim.config.books:
        sim.engine.seed_book(book.symbol, book.bids, book.asks)
    reports = Reports()
    sim._outbound = reports  # type: ignore[assignment]
    return sim, reports


def old_style_message(sim: VenueSimulator, event: OrderEvent, sequence: int) -> v.ExecutionReport:
    """The report as the simulator built it with string lookups per field."""
    liquidity = {"MAKER": v.LIQUIDITY_MAKER, "TAKER": v.LIQUIDITY_TAKER}
    return v.ExecutionReport(
        venue=sim.name,
        exec_id=f"{sim.name}-{sim._session}-{event.event_id}",
        child_order_id=event.order_id,
        exec_type=v.ExecType.Value(f"EXEC_TYPE_{event.exec_type.value}"),
        order_status=v.OrderStatus.Value(f"ORDER_STATUS_{event.status.value}"),
        last_qty=fmt(event.last_qty),
        last_price=fmt(event.last_price),
        cum_qty=fmt(event.cum_qty),
        leaves_qty=fmt(event.leaves_qty),
        fee=fmt(event.fee),
        liquidity=liquidity.get(event.liquidity.value, v.LIQUIDITY_UNSPECIFIED),
        text=event.text,
        venue_sequence=sequence,
    )


def buy(order_id: str, qty: str, price: str, tif: TimeInForce = TimeInForce.IOC) -> NewOrder:
    return NewOrder(order_id, "AAPL", Side.BUY, OrderType.LIMIT, tif, Decimal(qty), Decimal(price))


def every_kind_of_event(sim: VenueSimulator) -> list[OrderEvent]:
    engine = sim.engine
    results = [
        engine.submit(buy("sweep", "500", "190.02")),  # accepted, fills (makers too), rest
        engine.submit(buy("rest", "10", "189.50", TimeInForce.DAY)),
        engine.replace("rest", Decimal("5")),
        engine.replace("rest", Decimal("1"), Decimal("189.505")),
        engine.cancel("rest"),
        engine.cancel("nobody"),
        engine.reject("refused", "AAPL", "simulated"),
        engine.submit(  # refused by the engine: a limit order without a price
            NewOrder("no-price", "AAPL", Side.SELL, OrderType.LIMIT, TimeInForce.IOC, Decimal(1))
        ),
    ]
    return [event for result in results for event in result.events]


def test_report_messages_are_byte_for_byte_what_they_were() -> None:
    sim, _ = simulator()
    events = every_kind_of_event(sim)
    kinds = {type(event).__name__ for event in events}
    assert kinds >= {"Accepted", "Filled", "Canceled", "Replaced", "ReplaceRejected"}
    assert kinds >= {"CancelRejected", "Rejected"}
    assert any(event.owner is Owner.MM for event in events)
    for sequence, event in enumerate(events, start=1):
        message = sim._event_message(event, sequence)
        assert message.transact_time_ns > 0
        message.transact_time_ns = 0
        expected = old_style_message(sim, event, sequence)
        assert message.SerializeToString() == expected.SerializeToString(), event


async def test_orders_are_handled_when_due_in_arrival_order_all_due_in_one_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # with tracing on, each order's reports leave alone, under its trace
    monkeypatch.setattr(tracing._TracingState, "enabled", False)
    sim, reports = simulator()
    handled: list[tuple[str, float]] = []
    passes: list[int] = []
    handle, handle_due = sim._handle, sim._handle_due

    def recording_handle(envelope: v.OrderEnvelope) -> None:
        handled.append((envelope.new_order.child_order_id, time.monotonic()))
        handle(envelope)

    def counting_handle_due() -> None:
        passes.append(len(sim._inbound))
        handle_due()

    sim._handle = recording_handle  # type: ignore[method-assign]
    sim._handle_due = counting_handle_due  # type: ignore[method-assign]
    loop = asyncio.create_task(sim._order_loop())
    dues = []
    for index, latency_s in enumerate([0.05, 0.01, 0.01]):
        sim.latency_s = latency_s  # lowered: a later order is due before an earlier one
        order = new_order(f"c{index}", "190.01")
        await sim._on_order(StubMsg(order.SerializeToString()))  # type: ignore[arg-type]
        dues.append(sim._inbound[-1].due)

    await eventually(lambda: len(handled) == 3, message="three orders handled")
    await cancel_and_wait([loop], "order loop")
    assert [child for child, _ in handled] == ["c0", "c1", "c2"]
    assert all(at >= due for (_, at), due in zip(handled, dues, strict=True))
    assert passes == [3]  # once the first was due, the others were too
    assert [(r.child_order_id, r.exec_type) for r in reports.decoded()] == [
        (f"c{i}", kind) for i in range(3) for kind in (v.EXEC_TYPE_NEW, v.EXEC_TYPE_TRADE)
    ]
    assert [r.venue_sequence for r in reports.decoded()] == list(range(1, 7))
    assert len(reports.payloads) == 1  # made in one pass, sent in one message


async def test_a_malformed_order_message_is_refused_and_the_venue_goes_on() -> None:
    sim, reports = simulator()
    sim.latency_s = 0
    loop = asyncio.create_task(sim._order_loop())

    bad_replace = v.OrderEnvelope(
        replace_order=v.ReplaceOrder(child_order_id="c0", quantity="lots", limit_price="x")
    )
    for envelope in (new_order("bad", "one hundred"), bad_replace, new_order("good", "190.01")):
        await sim._on_order(StubMsg(envelope.SerializeToString()))  # type: ignore[arg-type]
    await eventually(lambda: len(reports.decoded()) >= 2, message="the good order answered")
    await cancel_and_wait([loop], "order loop")
    assert sim.malformed_orders == 2
    assert {r.child_order_id for r in reports.decoded()} == {"good"}


def test_a_new_order_without_side_type_or_time_in_force_is_rejected_saying_so() -> None:
    sim, _ = simulator()
    body = new_order("no-side", "190.01").new_order
    body.side = v.SIDE_UNSPECIFIED
    result = sim._new_order(body)
    assert [(type(e), e.text) for e in result.events] == [(Rejected, MISSING_FIELDS_TEXT)]
    assert sim.engine.status("no-side").status is OrderStatus.REJECTED


def test_an_order_resent_after_a_fault_reject_is_answered_as_before() -> None:
    sim, _ = simulator()
    sim.apply_control(v.SimulatorControl(faults=v.FaultSettings(reject_rate=1.0)))
    first = sim._new_order(new_order("c1", "190.01").new_order)
    assert [(type(e), e.text) for e in first.events] == [(Rejected, FAULT_REJECT_TEXT)]
    again = sim._new_order(new_order("c1", "190.01").new_order)
    assert again.events == ()
    assert again.duplicate is not None and again.duplicate.status is OrderStatus.REJECTED

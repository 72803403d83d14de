"""FIX venues without a network: the scenario's FIX table, the FIX mapping, and the
composite port that puts FIX venues beside NATS ones."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import pytest

from oms_server.domain.child import ChildOrder, ChildState, VenueExecType, VenueOrderStatus
from oms_server.domain.enums import OrderType, Side, TimeInForce
from router.book import VenueInfo
from venues.composite import CompositeVenues, ScopedSink
from venues.fix import messages as m
from venues.scenario import FixEndpoint, ScenarioError, parse_scenario

BASE = """
[[instruments]]
symbol = "AAPL"
tick_size = "0.01"
lot_size = "1"
reference_price = "190.00"

[[venues]]
name = "ALPHA"
"""

FIX_VENUE = """
[[venues]]
name = "FIXV"
protocol = "fix"
taker_fee_bps = "2"
[venues.fix]
host = "127.0.0.1"
port = 9878
sender_comp_id = "OMS"
target_comp_id = "EXEC"
"""


def test_a_fix_venue_is_configured_in_the_scenario() -> None:
    scenario = parse_scenario(BASE + FIX_VENUE, "test")
    venue = scenario.venue("FIXV")
    assert venue.protocol == "fix"
    assert venue.fix == FixEndpoint("127.0.0.1", 9878, "OMS", "EXEC", heartbeat_s=5)
    assert venue.taker_fee_bps == Decimal("2")
    assert scenario.venue("ALPHA").protocol == "nats" and scenario.venue("ALPHA").fix is None


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (FIX_VENUE.replace("port = 9878", "port = 0"), "venues[1].fix.port"),
        (FIX_VENUE.replace('host = "127.0.0.1"\n', ""), "venues[1].fix.host"),
        (FIX_VENUE.split("[venues.fix]")[0], "venues[1].fix"),
        (FIX_VENUE + '[[venues.books]]\nsymbol = "AAPL"\n', "venues[1].books"),
        (FIX_VENUE.replace('protocol = "fix"', 'protocol = "smoke"'), "venues[1].protocol"),
        (FIX_VENUE.replace('protocol = "fix"\n', ""), "venues[1].fix"),
    ],
)
def test_a_bad_fix_venue_is_refused_naming_the_key(text: str, where: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(BASE + text, "test")
    assert info.value.path == where


def child(**overrides: object) -> ChildOrder:
    fields: dict[str, object] = {
        "child_order_id": "K1",
        "parent_order_id": "P1",
        "account_id": "ACC1",
        "venue": "FIXV",
        "symbol": "AAPL",
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "time_in_force": TimeInForce.DAY,
        "quantity": Decimal("100"),
        "limit_price": Decimal("190.00"),
    }
    fields.update(overrides)
    return ChildOrder(**fields)  # type: ignore[arg-type]


def raw(*fields: tuple[int, str]) -> str:
    return "".join(f"{tag}={value}\x01" for tag, value in fields)


def test_a_child_becomes_a_new_order_single() -> None:
    message = m.new_order_single(child(), 0)
    fields = dict(message.fields)
    assert message.msg_type == "D"
    assert (fields[11], fields[55], fields[54], fields[38], fields[40], fields[44]) == (
        "K1",
        "AAPL",
        "1",
        "100",
        "2",
        "190",
    )
    with pytest.raises(ValueError, match="MARKET and LIMIT"):
        m.new_order_single(child(order_type=OrderType.STOP), 0)


def test_a_fill_report_keeps_its_exec_id_under_its_child() -> None:
    # As QuickFIX's executor sends it (prices as doubles, ExecType F).
    text = raw((35, "8"), (37, "1"), (17, "1"), (150, "F"), (39, "2"), (11, "K1"), (54, "1"),
               (151, "0"), (14, "100"), (6, "190"), (32, "100"), (31, "190"))  # fmt: skip
    report = m.venue_report("FIXV", m.parse(text), Decimal("2"))
    assert report.exec_id == "K1:1"
    assert (report.exec_type, report.status) == (VenueExecType.TRADE, ChildState.FILLED)
    assert (report.last_qty, report.last_price, report.cum_qty) == (100, 190, 100)
    assert report.fee == Decimal("100") * 190 * 2 / 10_000
    again = m.venue_report("FIXV", m.parse(text), Decimal("2"))
    assert again.exec_id == report.exec_id  # a repeat is recognised as one


def test_a_cancels_report_is_about_the_child_it_canceled() -> None:
    message = m.cancel_request(child(), m.cancel_id_of("K1", 1), 0)
    assert dict(message.fields)[41] == "K1" and dict(message.fields)[11] == "K1~c1"
    text = raw((35, "8"), (17, "c7"), (150, "4"), (39, "4"), (11, "K1~c1"), (41, "K1"),
               (14, "40"), (151, "0"))  # fmt: skip
    report = m.venue_report("FIXV", m.parse(text), Decimal("0"))
    assert (report.child_order_id, report.exec_type) == ("K1", VenueExecType.CANCELED)
    assert (report.status, report.cum_qty, report.last_qty) == (ChildState.CANCELED, 40, 0)


def test_a_status_answer_gives_the_fills_not_seen() -> None:
    text = raw((35, "8"), (17, "9"), (150, "I"), (39, "2"), (11, "K1"), (14, "100"),
               (151, "0"), (6, "190.5"))  # fmt: skip
    known = m.KnownFills(Decimal("40"), Decimal("40") * 190)
    status = m.order_status("FIXV", m.parse(text), known, Decimal("0"), 5)
    assert isinstance(status, VenueOrderStatus)
    assert (status.state, status.cum_qty) == (ChildState.FILLED, 100)
    (fill,) = status.fills
    assert fill.last_qty == 60
    assert 40 * 190 + fill.last_qty * fill.last_price == 100 * Decimal("190.5")
    unknown = raw((35, "8"), (150, "I"), (39, "8"), (103, "5"), (11, "K2"))
    assert m.order_status("FIXV", m.parse(unknown), m.KnownFills(), Decimal("0"), 5) is None


class FakePart:
    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.sent: list[str] = []

    def venue_infos(self) -> Mapping[str, VenueInfo]:
        return {n: VenueInfo(n, Decimal(0), Decimal(0), 0.0, True) for n in self.names}

    def send_new(self, c: ChildOrder) -> None:
        self.sent.append(c.child_order_id)

    def books(self, symbol: str) -> Mapping[str, object]:
        return {}


class FakeSink:
    def open_children(self) -> list[ChildOrder]:
        return [child(child_order_id="A", venue="ALPHA"), child(child_order_id="F")]


def test_the_composite_sends_each_child_to_its_venues_connector() -> None:
    nats, fix = FakePart(["ALPHA"]), FakePart(["FIXV"])
    parts = [(frozenset({"ALPHA"}), nats), (frozenset({"FIXV"}), fix)]
    venues = CompositeVenues(parts)  # type: ignore[arg-type]
    venues.send_new(child(child_order_id="A", venue="ALPHA"))
    venues.send_new(child(child_order_id="F", venue="FIXV"))
    assert (nats.sent, fix.sent) == (["A"], ["F"])
    infos = venues.venue_infos()
    assert set(infos) == {"ALPHA", "FIXV"}
    scoped = ScopedSink(FakeSink(), frozenset({"FIXV"}))  # type: ignore[arg-type]
    assert [c.child_order_id for c in scoped.open_children()] == ["F"]

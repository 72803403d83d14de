"""venue.v1 wire decoding: book snapshots (with reuse of unchanged parts) and reports."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import pytest
from google.protobuf.message import DecodeError

from oms_server.domain.child import ChildOrder, ChildState, Liquidity, VenueExecType
from oms_server.domain.enums import OrderType, PegType, Side, TimeInForce
from protos.venue.v1 import venue_pb2 as v
from router.book import Level
from venues import wire

D = Decimal


def snapshot(
    bids: list[tuple[str, str]], asks: list[tuple[str, str]], venue: str = "A", sequence: int = 1
) -> v.BookSnapshot:
    return v.BookSnapshot(
        venue=venue,
        symbol="AAPL",
        bids=[v.BookLevel(price=p, size=s) for p, s in bids],
        asks=[v.BookLevel(price=p, size=s) for p, s in asks],
        book_sequence=sequence,
        time_ns=sequence,
    )


BIDS = [("189.99", "500"), ("189.98", "1000")]
ASKS = [("190.01", "300")]


def test_a_decoded_book_equals_book_from_message() -> None:
    msg = snapshot(BIDS, ASKS)
    book = wire.BookDecoder().decode(msg)
    assert book == wire.book_from_message(msg)
    assert book.bids == (Level(D("189.99"), D("500")), Level(D("189.98"), D("1000")))
    assert book.asks == (Level(D("190.01"), D("300")),)


def test_an_unchanged_book_is_the_same_object_and_an_unchanged_side_is_kept() -> None:
    decoder = wire.BookDecoder()
    first = decoder.decode(snapshot(BIDS, ASKS, sequence=1))
    assert decoder.decode(snapshot(BIDS, ASKS, sequence=2)) is first  # a heartbeat

    traded = decoder.decode(snapshot(BIDS, [("190.01", "200")], sequence=3))
    assert traded is not first
    assert traded.bids is first.bids
    assert traded.asks == (Level(D("190.01"), D("200")),)
    assert decoder.decode(snapshot(BIDS, ASKS, sequence=4)) == first


def test_venues_and_symbols_are_decoded_apart() -> None:
    decoder = wire.BookDecoder()
    alpha = decoder.decode(snapshot(BIDS, ASKS, venue="A"))
    bravo = decoder.decode(snapshot(BIDS, ASKS, venue="B"))
    assert bravo.venue == "B" and bravo is not alpha
    assert decoder.decode(snapshot([], [], venue="A")).bids == ()


def test_a_malformed_level_raises_and_leaves_the_last_good_book() -> None:
    decoder = wire.BookDecoder()
    good = decoder.decode(snapshot(BIDS, ASKS))
    with pytest.raises(InvalidOperation):
        decoder.decode(snapshot(BIDS, [("abc", "1")]))
    assert decoder.decode(snapshot(BIDS, ASKS)) is good


def test_a_report_decodes_with_exact_decimals() -> None:
    msg = v.ExecutionReport(
        venue="A",
        exec_id="A-1-7",
        child_order_id="c1",
        exec_type=v.EXEC_TYPE_TRADE,
        order_status=v.ORDER_STATUS_FILLED,
        last_qty="37",
        last_price="100.010",
        cum_qty="37",
        leaves_qty="0",
        fee="0.1110111",
        liquidity=v.LIQUIDITY_TAKER,
        venue_sequence=7,
    )
    report = wire.report_from_message(msg)
    assert (report.exec_type, report.status, report.liquidity) == (
        VenueExecType.TRADE,
        ChildState.FILLED,
        Liquidity.TAKER,
    )
    assert (report.last_qty, report.last_price, report.fee) == (D(37), D("100.01"), D("0.1110111"))
    assert str(report.last_price) == "100.010"  # the string as sent, not a cached equal value
    assert report.leaves_qty == 0 and str(wire.report_from_message(msg).cum_qty) == "37"
    msg.last_qty = "1x"
    with pytest.raises(InvalidOperation):
        wire.report_from_message(msg)


def test_an_exec_message_carries_several_reports_and_the_single_report_format_still_reads() -> None:
    new = v.ExecutionReport(venue="A", exec_id="A-1-1", child_order_id="c1", venue_sequence=1)
    fill = v.ExecutionReport(
        venue="A", exec_id="A-1-2", child_order_id="c1", exec_type=v.EXEC_TYPE_TRADE
    )
    batched = wire.reports_in_payload(wire.reports_payload([new, fill]))
    assert [r.exec_id for r in batched] == ["A-1-1", "A-1-2"]
    # a message published before batching: one ExecutionReport, every field intact
    (single,) = wire.reports_in_payload(fill.SerializeToString())
    assert single == fill
    with pytest.raises(DecodeError):
        wire.reports_in_payload(b"\xff\xff\xff")


def test_a_new_order_carries_a_native_icebergs_display_quantity_and_none_otherwise() -> None:
    child = ChildOrder(
        "p.1",
        "p",
        "ACC1",
        "ALPHA",
        "AAPL",
        Side.BUY,
        OrderType.LIMIT,
        TimeInForce.DAY,
        Decimal(300),
        Decimal("190.00"),
        display_quantity=Decimal(100),
    )
    assert wire.new_order_envelope(child, 1).new_order.display_quantity == "100"
    child.display_quantity = None
    assert wire.new_order_envelope(child, 1).new_order.display_quantity == ""


def test_a_new_order_carries_a_native_pegs_terms() -> None:
    child = ChildOrder(
        "p.1", "p", "ACC1", "ALPHA", "AAPL", Side.BUY, OrderType.LIMIT, TimeInForce.DAY,
        Decimal(100), None, peg_type=PegType.MIDPOINT, peg_offset=Decimal("0.01"),
    )  # fmt: skip
    sent = wire.new_order_envelope(child, 1).new_order
    assert (sent.peg_type, sent.peg_offset, sent.limit_price) == (v.PEG_TYPE_MIDPOINT, "0.01", "")
    assert wire.PEG_IN[sent.peg_type] is PegType.MIDPOINT

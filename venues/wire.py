"""The venue.v1 wire format <-> domain values, for the simulator and the OMS connector."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from decimal import Decimal

from oms_server.domain.child import ChildOrder, ChildState, Liquidity, VenueExecType, VenueReport
from oms_server.domain.decimals import ZERO, fmt
from oms_server.domain.enums import OrderType, PegType, Side, TimeInForce
from oms_server.domain.order_types import ORDER_TYPES
from protos.venue.v1 import venue_pb2 as v
from router.book import Level, VenueBook

SIDE_OUT = {Side.BUY: v.SIDE_BUY, Side.SELL: v.SIDE_SELL}
SIDE_IN = {number: side for side, number in SIDE_OUT.items()}
#: The order types venue.v1 carries: those whose proto name it has (MARKET and LIMIT).
TYPE_OUT = {
    kind: v.OrderType.Value(row.proto_name)
    for kind, row in ORDER_TYPES.items()
    if row.proto_name in v.OrderType.DESCRIPTOR.values_by_name
}
TYPE_IN = {number: kind for kind, number in TYPE_OUT.items()}
TIF_OUT = {
    TimeInForce.DAY: v.TIME_IN_FORCE_DAY,
    TimeInForce.GTC: v.TIME_IN_FORCE_GTC,
    TimeInForce.IOC: v.TIME_IN_FORCE_IOC,
    TimeInForce.FOK: v.TIME_IN_FORCE_FOK,
}
TIF_IN = {number: tif for tif, number in TIF_OUT.items()}
PEG_OUT = {peg: v.PegType.Value(f"PEG_TYPE_{peg.value}") for peg in PegType}
PEG_IN = {number: peg for peg, number in PEG_OUT.items()}
EXEC_OUT = {kind: v.ExecType.Value(f"EXEC_TYPE_{kind.value}") for kind in VenueExecType}
EXEC_IN = {number: kind for kind, number in EXEC_OUT.items()}
STATUS_OUT = {
    state: v.OrderStatus.Value(f"ORDER_STATUS_{state.value}")
    for state in ChildState
    if state is not ChildState.PENDING_NEW
}
STATUS_IN = {number: state for state, number in STATUS_OUT.items()}
LIQUIDITY_OUT = {
    Liquidity.NONE: v.LIQUIDITY_UNSPECIFIED,
    Liquidity.MAKER: v.LIQUIDITY_MAKER,
    Liquidity.TAKER: v.LIQUIDITY_TAKER,
}
LIQUIDITY_IN = {number: kind for kind, number in LIQUIDITY_OUT.items()}
#: Distinct decimal strings whose parsed values are remembered (prices, sizes, fees).
DECIMAL_CACHE_SIZE = 4096
#: Most reports in one exec message (a few hundred bytes each: far below NATS's 1 MiB).
MAX_REPORTS_PER_MESSAGE = 256


def new_order_envelope(child: ChildOrder, sent_ns: int, route: str = "") -> v.OrderEnvelope:
    """The NewOrder message for a child order (``route``: the OMS shard sending it)."""
    order_type = child.order_type if child.order_type in TYPE_OUT else OrderType.LIMIT
    return v.OrderEnvelope(
        new_order=v.NewOrder(
            child_order_id=child.child_order_id,
            symbol=child.symbol,
            side=SIDE_OUT[child.side],
            order_type=TYPE_OUT[order_type],
            time_in_force=TIF_OUT[child.time_in_force],
            quantity=fmt(child.quantity),
            limit_price=fmt(child.limit_price),
            sent_time_ns=sent_ns,
            route=route,
            display_quantity=fmt(child.display_quantity),
            peg_type=PEG_OUT[child.peg_type] if child.peg_type else v.PEG_TYPE_UNSPECIFIED,
            peg_offset=fmt(child.peg_offset),
        )
    )


def cancel_envelope(child_order_id: str) -> v.OrderEnvelope:
    return v.OrderEnvelope(cancel_order=v.CancelOrder(child_order_id=child_order_id))


def reports_payload(reports: Sequence[v.ExecutionReport]) -> bytes:
    """The payload of one exec message carrying ``reports`` (at least one), in order."""
    return v.ExecutionReports(reports=reports).SerializeToString()


def reports_in_payload(payload: bytes) -> list[v.ExecutionReport]:
    """The reports of an exec message: an ExecutionReports, or a single ExecutionReport
    (what venues published before reports were batched). Raises DecodeError."""
    batch = v.ExecutionReports.FromString(payload)
    if batch.reports:
        return list(batch.reports)
    return [v.ExecutionReport.FromString(payload)]


def report_from_message(msg: v.ExecutionReport) -> VenueReport:
    """A domain VenueReport; raises ValueError for a malformed message."""
    exec_type = EXEC_IN.get(msg.exec_type)
    status = STATUS_IN.get(msg.order_status)
    if exec_type is None or status is None or not msg.exec_id or not msg.child_order_id:
        raise ValueError(f"malformed venue execution report {msg.exec_id!r}")
    return VenueReport(
        venue=msg.venue,
        exec_id=msg.exec_id,
        child_order_id=msg.child_order_id,
        exec_type=exec_type,
        status=status,
        last_qty=decimal_or_zero(msg.last_qty),
        last_price=decimal_or_zero(msg.last_price),
        cum_qty=decimal_or_zero(msg.cum_qty),
        leaves_qty=decimal_or_zero(msg.leaves_qty),
        fee=decimal_or_zero(msg.fee),
        liquidity=LIQUIDITY_IN.get(msg.liquidity, Liquidity.NONE),
        text=msg.text,
        transact_ns=msg.transact_time_ns,
        venue_sequence=msg.venue_sequence,
    )


def book_from_message(msg: v.BookSnapshot) -> VenueBook:
    return VenueBook(
        venue=msg.venue, symbol=msg.symbol, bids=_levels(msg.bids), asks=_levels(msg.asks)
    )


class BookDecoder:
    """``book_from_message`` that reuses what did not change since the previous snapshot.

    Venues republish a book on every change and as a heartbeat. A snapshot whose levels
    equal those of the previous one of its venue and symbol decodes to that very
    VenueBook (readers may cache on its identity); a side that did not change keeps its
    Level tuple. Only changed sides are parsed into Decimals.
    """

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], tuple[v.BookSnapshot, VenueBook]] = {}

    def decode(self, msg: v.BookSnapshot) -> VenueBook:
        """The VenueBook of ``msg``; raises for malformed prices or sizes."""
        key = (msg.venue, msg.symbol)
        last = self._last.get(key)
        if last is None:
            book = book_from_message(msg)
        else:
            last_msg, last_book = last
            same_bids, same_asks = msg.bids == last_msg.bids, msg.asks == last_msg.asks
            if same_bids and same_asks:
                return last_book
            book = VenueBook(
                msg.venue,
                msg.symbol,
                last_book.bids if same_bids else _levels(msg.bids),
                last_book.asks if same_asks else _levels(msg.asks),
            )
        self._last[key] = (msg, book)
        return book


def book_message(
    venue: str,
    symbol: str,
    bids: list[tuple[Decimal, Decimal]],
    asks: list[tuple[Decimal, Decimal]],
    sequence: int,
    time_ns: int,
) -> v.BookSnapshot:
    return v.BookSnapshot(
        venue=venue,
        symbol=symbol,
        bids=[v.BookLevel(price=fmt(p), size=fmt(s)) for p, s in bids],
        asks=[v.BookLevel(price=fmt(p), size=fmt(s)) for p, s in asks],
        book_sequence=sequence,
        time_ns=time_ns,
    )


def decimal_or_zero(text: str) -> Decimal:
    """Decimal(text), or ZERO for an empty string; raises for a malformed one."""
    return _parsed_decimal(text) if text else ZERO


@functools.lru_cache(maxsize=DECIMAL_CACHE_SIZE)
def _parsed_decimal(text: str) -> Decimal:
    """Decimal(text), remembered: reports repeat prices, sizes and zeros (Decimals are
    immutable, so sharing one is safe; a malformed string raises every time)."""
    return Decimal(text)


def _levels(levels: Iterable[v.BookLevel]) -> tuple[Level, ...]:
    return tuple(Level(Decimal(level.price), Decimal(level.size)) for level in levels)

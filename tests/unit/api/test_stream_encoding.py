"""Stream messages built from cached report bytes are exactly protobuf's own encoding."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from oms_server.api import mapping
from oms_server.api.stream_encoding import StreamEncoder
from oms_server.domain.enums import ExecType, OrderState, Side
from oms_server.domain.reports import ExecutionReport
from protos.oms.v1 import order_service_pb2 as pb


def report(sequence: int, text: str, qty: int) -> ExecutionReport:
    return ExecutionReport(
        account_id="ACC-1",
        sequence=sequence,
        exec_id=f"o{sequence}.1",
        order_id=f"o{sequence}",
        client_order_id=f"c{sequence}",
        symbol="AAPL",
        side=Side.BUY,
        exec_type=ExecType.TRADE,
        order_state=OrderState.PARTIALLY_FILLED,
        last_qty=Decimal(qty),
        last_price=Decimal("190.01"),
        last_venue="ALPHA",
        cum_qty=Decimal(qty),
        leaves_qty=Decimal(10**6),
        avg_price=Decimal("190.01"),
        text=text,
        transact_ns=1_700_000_000_123_456_789,
    )


# texts up to a few hundred bytes: report lengths on both sides of a one-byte varint
texts = st.text(max_size=300)


@given(st.lists(st.tuples(texts, st.integers(0, 10**9)), min_size=1, max_size=20))
def test_a_batch_is_byte_for_byte_protobufs_encoding(items: list[tuple[str, int]]) -> None:
    reports = [report(i, text, qty) for i, (text, qty) in enumerate(items, start=1)]
    expected = pb.StreamExecutionReportsResponse(
        reports=[mapping.report_message(r) for r in reports]
    ).SerializeToString()
    encoder = StreamEncoder()
    assert encoder.batch(reports) == expected
    assert encoder.batch(reports) == expected  # from the cache: the same bytes
    decoded = pb.StreamExecutionReportsResponse.FromString(encoder.batch(reports))
    assert [r.sequence for r in decoded.reports] == list(range(1, len(items) + 1))


@given(texts, st.integers(0, 10**9))
def test_a_single_report_message_is_protobufs_encoding(text: str, qty: int) -> None:
    one = report(7, text, qty)
    expected = pb.StreamExecutionReportsResponse(report=mapping.report_message(one))
    assert StreamEncoder().single(one) == expected.SerializeToString()

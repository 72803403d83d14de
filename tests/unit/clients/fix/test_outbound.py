"""ExecutionReports the gateway sends for each kind of report of the API's stream."""

from __future__ import annotations

import pytest

from clients.fix.outbound import ReportIds, execution_report
from clients.fix.protocol import CANCEL_REJECT_RESPONSE_TO, EXEC_TYPE, Tag
from protos.oms.v1 import common_pb2 as c
from protos.oms.v1 import order_pb2


def report(
    exec_type: int, state: int = c.ORDER_STATE_NEW, text: str = ""
) -> order_pb2.ExecutionReport:
    return order_pb2.ExecutionReport(
        sequence=7,
        exec_id="E7",
        order_id="O1",
        client_order_id="c1",
        account_id="ACC1",
        symbol="AAPL",
        side=c.SIDE_SELL,
        exec_type=exec_type,
        order_state=state,
        cum_qty="0",
        leaves_qty="100",
        text=text,
    )


def test_a_fired_trigger_is_restated_with_its_reason_and_text() -> None:
    """FIX 4.4 has no triggered ExecType: D Restated, 378=99 Other, OrdStatus unchanged."""
    fired = report(c.EXEC_TYPE_TRIGGERED, text="triggered at 189.5: best bid 189.49")
    sent = execution_report(fired, ReportIds("c1"), "100")
    assert sent.get(Tag.EXEC_TYPE) == "D"
    assert sent.get(Tag.EXEC_RESTATEMENT_REASON) == "99"
    assert sent.get(Tag.ORD_STATUS) == "0"
    assert sent.get(Tag.TEXT) == "triggered at 189.5: best bid 189.49"


def test_other_reports_carry_no_restatement_reason() -> None:
    sent = execution_report(report(c.EXEC_TYPE_NEW), ReportIds("c1"), "100")
    assert (sent.get(Tag.EXEC_TYPE), sent.get(Tag.EXEC_RESTATEMENT_REASON)) == ("0", None)


@pytest.mark.parametrize(
    "exec_type",
    [
        v
        for v in c.ExecType.values()
        if v != c.EXEC_TYPE_UNSPECIFIED and v not in CANCEL_REJECT_RESPONSE_TO
    ],
)
def test_every_exec_type_of_the_api_becomes_an_execution_report(exec_type: int) -> None:
    """A report kind the gateway cannot name would end the session's stream (KeyError)."""
    assert exec_type in EXEC_TYPE
    sent = execution_report(report(exec_type), ReportIds("c1"), "100")
    assert sent.get(Tag.EXEC_TYPE) == EXEC_TYPE[exec_type]

"""Order entry through the FIX gateway, by jspurefix, against venue simulators over NATS."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from protos.oms.v1 import order_service_pb2 as pb
from tests.integration.fix.conftest import Clients
from tests.support.fix_client import FixMessage, JsFixClient
from tests.support.fix_messages import (
    AVG_PX,
    CL_ORD_ID,
    CUM_QTY,
    CXL_REJ_REASON,
    CXL_REJ_RESPONSE_TO,
    EXEC_ID,
    EXEC_TYPE,
    LAST_MKT,
    LAST_QTY,
    LEAVES_QTY,
    OMS_SEQUENCE,
    ORD_REJ_REASON,
    ORD_STATUS,
    ORDER_ID,
    ORIG_CL_ORD_ID,
    TEXT,
    cancel,
    mass_cancel,
    new_order,
    qty,
    replace,
    reports_for,
    status,
)
from tests.support.fixtures import call_metadata
from tests.support.market import RoutedOms

pytestmark = pytest.mark.timeout(90)

#: Below every venue's ask: the order rests.
RESTING = "180.00"
#: Above the asks of all three venues: a sweep of 3,000 takes from each.
SWEEP = "190.30"


def final(cl_ord_id: str, *statuses: str) -> Callable[[FixMessage], bool]:
    """An ExecutionReport of ``cl_ord_id`` in one of ``statuses``."""
    return lambda m: (
        m.msg_type == "8" and m.get(CL_ORD_ID) == cl_ord_id and m[ORD_STATUS] in statuses
    )


def exec_type(cl_ord_id: str, value: str) -> Callable[[FixMessage], bool]:
    """An ExecutionReport of ``cl_ord_id`` with ExecType ``value``."""
    return lambda m: m.msg_type == "8" and m.get(CL_ORD_ID) == cl_ord_id and m[EXEC_TYPE] == value


async def resting_order(client: JsFixClient, cl_ord_id: str, quantity: int = 100) -> FixMessage:
    await client.send("D", new_order(cl_ord_id, quantity, RESTING))
    (new,) = await client.wait_for(exec_type(cl_ord_id, "0"), what=f"New of {cl_ord_id}")
    return new


async def test_an_order_filling_across_three_venues_is_reported_fill_by_fill(
    clients: Clients, routed_oms: RoutedOms
) -> None:
    desk = await clients.connect("DESK1")
    await desk.send("D", new_order("sweep-1", 3000, SWEEP))
    await desk.wait_for(final("sweep-1", "2"), what="the fill")

    reports = reports_for(desk.received, "sweep-1")
    new, trades = reports[0], reports[1:]
    assert (new[EXEC_TYPE], new[ORD_STATUS], new[LEAVES_QTY]) == ("0", "0", "3000")
    assert all(t[EXEC_TYPE] == "F" for t in trades)
    assert [t[ORD_STATUS] for t in trades] == ["1"] * (len(trades) - 1) + ["2"]
    assert {t[LAST_MKT] for t in trades} == {"ALPHA", "BRAVO", "CHARLIE"}
    cum = Decimal(0)
    for trade in trades:
        cum += qty(trade, LAST_QTY)
        assert qty(trade, CUM_QTY) == cum
        assert qty(trade, LEAVES_QTY) == 3000 - cum
    assert cum == 3000
    assert len({r[ORDER_ID] for r in reports}) == 1
    # One ExecutionReport per report of the OMS, in its order, with its ids and figures.
    events = await routed_oms.orders.GetOrderEvents(
        pb.GetOrderEventsRequest(order_id=new[ORDER_ID]), metadata=call_metadata()
    )
    assert [r[EXEC_ID] for r in reports] == [e.exec_id for e in events.events]
    assert [int(r[OMS_SEQUENCE]) for r in reports] == [e.sequence for e in events.events]
    assert qty(trades[-1], AVG_PX) == Decimal(events.events[-1].avg_price)


async def test_cancel_reports_pending_cancel_then_canceled_with_both_ids(clients: Clients) -> None:
    desk = await clients.connect("DESK1")
    new = await resting_order(desk, "rest-1")
    await desk.send("F", cancel("cxl-1", "rest-1"))
    (canceled,) = await desk.wait_for(final("cxl-1", "4"), what="the cancel")
    pending = [m for m in desk.received if m.get(CL_ORD_ID) == "cxl-1" and m[EXEC_TYPE] == "6"]
    assert len(pending) == 1
    for report in (pending[0], canceled):
        assert report[ORIG_CL_ORD_ID] == "rest-1"
        assert report[ORDER_ID] == new[ORDER_ID]
    assert (canceled[EXEC_TYPE], canceled[LEAVES_QTY], canceled[CUM_QTY]) == ("4", "0", "0")


async def test_replace_is_one_replaced_report_of_the_new_terms(clients: Clients) -> None:
    desk = await clients.connect("DESK1")
    await resting_order(desk, "rest-2", 100)
    await desk.send("G", replace("rest-2b", "rest-2", 250, "181.00"))
    (replaced,) = await desk.wait_for(exec_type("rest-2b", "5"), what="the replace")
    assert replaced[ORIG_CL_ORD_ID] == "rest-2"
    assert (replaced[ORD_STATUS], replaced[LEAVES_QTY], replaced[38]) == ("0", "250", "250")
    pending = await desk.wait_for(exec_type("rest-2b", "E"), what="pending replace")
    assert pending[0][ORIG_CL_ORD_ID] == "rest-2"
    # The replaced order is not reported again on its own, and the new one is not "New".
    assert not [m for m in reports_for(desk.received, "rest-2") if m[EXEC_TYPE] in ("4", "5")
                and m.get(CL_ORD_ID) == "rest-2"]  # fmt: skip
    assert not [m for m in desk.received if m.get(CL_ORD_ID) == "rest-2b" and m[EXEC_TYPE] == "0"]
    # The replacing order is the one that works now: cancel it by its ClOrdID.
    await desk.send("F", cancel("cxl-2", "rest-2b"))
    (canceled,) = await desk.wait_for(final("cxl-2", "4"), what="the cancel")
    assert canceled[ORDER_ID] == replaced[ORDER_ID]


async def test_a_cancel_of_a_filled_order_is_an_order_cancel_reject(clients: Clients) -> None:
    desk = await clients.connect("DESK1")
    await desk.send("D", new_order("fill-1", 100, SWEEP))
    (filled,) = await desk.wait_for(final("fill-1", "2"), what="the fill")
    await desk.send("F", cancel("cxl-3", "fill-1"))
    (reject,) = await desk.wait_for(lambda m: m.msg_type == "9", what="OrderCancelReject")
    assert reject[CL_ORD_ID] == "cxl-3"
    assert reject[ORIG_CL_ORD_ID] == "fill-1"
    assert reject[ORDER_ID] == filled[ORDER_ID]
    assert (reject[ORD_STATUS], reject[CXL_REJ_RESPONSE_TO], reject[CXL_REJ_REASON]) == (
        "2",
        "1",
        "0",  # too late to cancel
    )
    assert "FILLED" in reject[TEXT]


async def test_a_cancel_of_an_unknown_order_and_a_replace_of_a_filled_one(clients: Clients) -> None:
    desk = await clients.connect("DESK1")
    await desk.send("F", cancel("cxl-4", "never-sent"))
    await desk.send("D", new_order("fill-2", 10, SWEEP))
    await desk.wait_for(final("fill-2", "2"), what="the fill")
    await desk.send("G", replace("fill-2b", "fill-2", 20, "190.00"))
    rejects = await desk.wait_for(lambda m: m.msg_type == "9", count=2, what="two rejects")
    unknown, too_late = sorted(rejects, key=lambda m: m[CL_ORD_ID])
    assert (unknown[CL_ORD_ID], unknown[CXL_REJ_REASON], unknown[ORD_STATUS]) == ("cxl-4", "1", "8")
    assert (too_late[CL_ORD_ID], too_late[CXL_REJ_RESPONSE_TO], too_late[ORD_STATUS]) == (
        "fill-2b",
        "2",
        "2",
    )


async def test_mass_cancel_by_symbol_then_everything(clients: Clients) -> None:
    desk = await clients.connect("DESK1")
    for cl_ord_id in ("mc-1", "mc-2"):
        await resting_order(desk, cl_ord_id)
    await desk.send("D", new_order("mc-3", 10, "400.00", symbol="MSFT"))
    await desk.wait_for(exec_type("mc-3", "0"), what="New of mc-3")

    await desk.send("q", mass_cancel("mass-1", "1", Instrument={"Symbol": "AAPL"}))
    (report,) = await desk.wait_for(lambda m: m.msg_type == "r", what="OrderMassCancelReport")
    assert (report[CL_ORD_ID], report[530], report[531], report[533]) == ("mass-1", "1", "1", "2")
    await desk.wait_for(final("mc-1", "4"), what="mc-1 canceled")
    await desk.wait_for(final("mc-2", "4"), what="mc-2 canceled")

    await desk.send("q", mass_cancel("mass-2", "7"))
    reports = await desk.wait_for(lambda m: m.msg_type == "r", count=2, what="second report")
    assert (reports[1][CL_ORD_ID], reports[1][531], reports[1][533]) == ("mass-2", "7", "1")
    await desk.wait_for(final("mc-3", "4"), what="mc-3 canceled")

    await desk.send("q", mass_cancel("mass-3", "3"))
    reports = await desk.wait_for(lambda m: m.msg_type == "r", count=3, what="a refusal")
    assert (reports[2][531], reports[2][532]) == ("0", "0")


async def test_order_status_of_a_known_and_an_unknown_order(clients: Clients) -> None:
    desk = await clients.connect("DESK1")
    new = await resting_order(desk, "st-1", 70)
    await desk.send("H", status("st-1"))
    (known,) = await desk.wait_for(exec_type("st-1", "I"), what="status of st-1")
    assert (known[ORDER_ID], known[ORD_STATUS], known[LEAVES_QTY]) == (new[ORDER_ID], "0", "70")
    await desk.send("H", status("st-unknown"))
    (unknown,) = await desk.wait_for(exec_type("st-unknown", "I"), what="status of st-unknown")
    assert (unknown[ORD_STATUS], unknown[ORD_REJ_REASON]) == ("8", "5")


@pytest.mark.parametrize(
    ("order", "reason", "text"),
    [
        (new_order("bad-sym", 10, "10.00", symbol="NOPE"), "1", "unknown symbol"),
        (new_order("too-big", 10_000_000, "190.00"), "3", "RISK_MAX_ORDER_QUANTITY"),
        (new_order("other-acct", 10, "190.00", Account="ACC2"), "99", "ACCOUNT_NOT_PERMITTED"),
        (new_order("bad-venue", 10, "190.00", ExDestination="NOWHERE"), "99", "venue"),
        (new_order("bad-qty", "0.5", "190.00"), "13", "quantity"),
    ],
)
async def test_refusals_are_rejected_execution_reports_with_ord_rej_reason(
    clients: Clients, order: dict, reason: str, text: str
) -> None:
    desk = await clients.connect("DESK1")
    await desk.send("D", order)
    (rejected,) = await desk.wait_for(final(order["ClOrdID"], "8"), what="the reject")
    assert (rejected[EXEC_TYPE], rejected[ORD_REJ_REASON], rejected[ORDER_ID]) == (
        "8",
        reason,
        "NONE",
    )
    assert text in rejected[TEXT]


async def test_a_reused_client_order_id_with_other_terms_is_a_duplicate(clients: Clients) -> None:
    desk = await clients.connect("DESK1")
    await resting_order(desk, "dup-1", 100)
    await desk.send("D", new_order("dup-1", 200, RESTING))
    (rejected,) = await desk.wait_for(final("dup-1", "8"), what="the duplicate")
    assert rejected[ORD_REJ_REASON] == "6"
    assert "DUPLICATE_CLIENT_ORDER_ID" in rejected[TEXT]


async def test_ex_destination_routes_the_whole_order_to_that_venue(clients: Clients) -> None:
    desk = await clients.connect("DESK1")
    await desk.send("D", new_order("direct-1", 300, SWEEP, ExDestination="BRAVO"))
    await desk.wait_for(final("direct-1", "2"), what="the fill")
    trades = [m for m in reports_for(desk.received, "direct-1") if m[EXEC_TYPE] == "F"]
    assert {t[LAST_MKT] for t in trades} == {"BRAVO"}


async def test_the_unfilled_rest_of_an_ioc_order_is_canceled(clients: Clients) -> None:
    desk = await clients.connect("DESK1")
    # ALPHA's 300 at 190.01 is all a limit of 190.01 reaches (fees aside).
    await desk.send("D", new_order("ioc-1", 5000, "190.05", tif="3"))
    (done,) = await desk.wait_for(final("ioc-1", "4"), what="the IOC's end")
    assert done[EXEC_TYPE] == "4"
    assert qty(done, CUM_QTY) + qty(done, LEAVES_QTY) <= 5000
    assert qty(done, LEAVES_QTY) == 0


async def test_a_gtd_order_expires_at_its_expire_time(clients: Clients) -> None:
    desk = await clients.connect("DESK1")
    expire = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    await desk.send("D", new_order("gtd-1", 10, RESTING, tif="6", ExpireTime=expire))
    (expired,) = await desk.wait_for(final("gtd-1", "C"), timeout_s=15, what="the expiry")
    assert expired[EXEC_TYPE] == "C"


async def test_an_order_sent_after_a_mass_cancel_is_not_canceled_by_it(clients: Clients) -> None:
    desk = await clients.connect("DESK1")
    await resting_order(desk, "before-mass")
    await desk.send("q", mass_cancel("mass-4"))
    await desk.send("D", new_order("after-mass", 10, RESTING))
    (report,) = await desk.wait_for(lambda m: m.msg_type == "r", what="OrderMassCancelReport")
    assert report[533] == "1"
    await desk.wait_for(final("before-mass", "4"), what="the earlier order canceled")
    await desk.wait_for(exec_type("after-mass", "0"), what="New of the later order")
    await desk.send("H", status("after-mass"))
    (later,) = await desk.wait_for(exec_type("after-mass", "I"), what="its status")
    assert later[ORD_STATUS] == "0"


async def test_max_floor_makes_an_iceberg_and_a_fired_stop_is_restated(
    clients: Clients, routed_oms: RoutedOms
) -> None:
    """MaxFloor (111) is the display quantity; a stop's trigger firing is ExecType D
    Restated with ExecRestatementReason 99 (FIX 4.4 has no triggered ExecType)."""
    desk = await clients.connect("DESK1")
    await desk.send("D", new_order("ice-1", 300, RESTING, MaxFloor="100"))
    (new,) = await desk.wait_for(exec_type("ice-1", "0"), what="New of the iceberg")
    got = await routed_oms.orders.GetOrder(
        pb.GetOrderRequest(order_id=new[ORDER_ID]), metadata=call_metadata()
    )
    assert (got.order.quantity, got.order.display_quantity) == ("300", "100")

    # A buy stop at 190.00 with the ask at 190.01: it fires on the next book update.
    await desk.send("D", new_order("stop-1", 100, None, ord_type="3", StopPx="190.00"))
    (fired,) = await desk.wait_for(exec_type("stop-1", "D"), what="the stop restated")
    assert (fired[378], fired[ORD_STATUS]) == ("99", "0")
    assert fired[TEXT] == "triggered at 190: best ask 190.01"
    await desk.wait_for(final("stop-1", "2"), what="the stop's fill")


async def test_ord_type_p_with_exec_inst_and_peg_offset_value_makes_a_pegged_order(
    clients: Clients, routed_oms: RoutedOms
) -> None:
    """OrdType P, ExecInst R (primary peg), PegOffsetValue -0.01 (a buy one tick under
    the bid), Price 190.00 the cap: a pegged order resting at 189.98 under the 189.99 bid;
    a buy's positive PegOffsetValue (above its peg) is refused naming peg_offset."""
    desk = await clients.connect("DESK1")
    pegs = {"ExecInst": "R", "PegInstructions": {"PegOffsetValue": "-0.01"}}
    await desk.send("D", new_order("peg-1", 100, "190.00", ord_type="P", **pegs))
    (new,) = await desk.wait_for(exec_type("peg-1", "0"), what="New of the pegged order")
    got = await routed_oms.orders.GetOrder(
        pb.GetOrderRequest(order_id=new[ORDER_ID]), metadata=call_metadata()
    )
    order = got.order
    assert (order.peg_type, order.peg_offset, order.limit_price) == (1, "0.01", "190")

    above = {"ExecInst": "R", "PegInstructions": {"PegOffsetValue": "0.01"}}
    await desk.send("D", new_order("peg-2", 100, None, ord_type="P", **above))
    (refused,) = await desk.wait_for(exec_type("peg-2", "8"), what="the pegged order refused")
    assert "peg_offset" in refused[TEXT]

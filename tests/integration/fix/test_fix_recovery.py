"""FIX sessions survive disconnects and gateway restarts: no report lost, none repeated."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from clients.sdk import OmsClient
from protos.oms.v1 import common_pb2 as c
from tests.integration.fix.conftest import Clients, RunningGateway
from tests.support.fix_client import FixMessage, JsFixClient
from tests.support.fix_messages import (
    CL_ORD_ID,
    EXEC_ID,
    EXEC_TYPE,
    OMS_SEQUENCE,
    ORD_STATUS,
    ORDER_ID,
    POSS_DUP_FLAG,
    cancel,
    new_order,
    reports_for,
)
from tests.support.fix_raw import RawFix
from tests.support.fixtures import token
from tests.support.market import RoutedOms
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(120)

RESTING = "180.00"
SWEEP = "190.30"


def is_report(cl_ord_id: str, status: str):
    return lambda m: m.msg_type == "8" and m.get(CL_ORD_ID) == cl_ord_id and m[ORD_STATUS] == status


def first_sent(clients: list[JsFixClient]) -> list[FixMessage]:
    """The ExecutionReports of the stream the clients got, without resends (PossDupFlag)."""
    return [
        m
        for client in clients
        for m in client.received
        if m.msg_type == "8" and OMS_SEQUENCE in m.fields and m.get(POSS_DUP_FLAG) != "Y"
    ]


def assert_each_report_once(clients: list[JsFixClient], last: int) -> None:
    sequences = [int(m[OMS_SEQUENCE]) for m in first_sent(clients)]
    assert sequences == list(range(1, last + 1)), sequences


async def account_head(oms: RoutedOms) -> int:
    async with OmsClient(oms.target, token()) as api:
        order = await anext(api.iter_orders("ACC1"))
        events = await api.get_order_events(order.order_id)
        return max(e.sequence for e in events)


async def disconnected(gateway: RunningGateway, comp_id: str) -> None:
    assert gateway.gateway is not None
    session = gateway.gateway.session(comp_id)
    await eventually(lambda: session is None or not session.connected, message="disconnected")


async def test_reports_made_while_logged_out_come_after_the_next_logon(
    clients: Clients, routed_oms: RoutedOms
) -> None:
    first = await clients.connect("DESK1")
    await first.send("D", new_order("away-1", 100, RESTING))
    (new,) = await first.wait_for(is_report("away-1", "0"), what="New")
    await first.logout()

    async with OmsClient(routed_oms.target, token()) as api:
        await api.cancel_order(new[ORDER_ID])
        filled = await api.submit_order(
            account_id="ACC1", symbol="AAPL", side="buy", quantity=100, limit_price=SWEEP,
            client_order_id="away-2",
        )  # fmt: skip
        await eventually(
            lambda: _state(api, filled.order_id, c.ORDER_STATE_FILLED), message="filled"
        )

    second = await clients.connect("DESK1")
    await second.wait_for(is_report("away-1", "4"), what="the cancel made while away")
    await second.wait_for(is_report("away-2", "2"), what="the fill made while away")
    assert_each_report_once([first, second], await account_head(routed_oms))


async def test_a_gateway_restart_loses_and_repeats_no_report(
    clients: Clients, gateway: RunningGateway, routed_oms: RoutedOms
) -> None:
    first = await clients.connect("DESK1")
    await first.send("D", new_order("r-1", 100, RESTING))
    (new,) = await first.wait_for(is_report("r-1", "0"), what="New of r-1")
    cursor = gateway.state_dir / "cursors" / "DESK1.json"
    await eventually(lambda: cursor.exists() and '"ACC1": 1' in cursor.read_text())
    stale = cursor.with_suffix(".stale")
    shutil.copy(cursor, stale)
    await first.send("D", new_order("r-2", 100, RESTING))
    await first.wait_for(is_report("r-2", "0"), what="New of r-2")

    # (Logged out by the client: jspurefix loses its own number of the Logout it sends
    # in answer to a gateway that logs it out, and would log on one too low.)
    await first.logout()
    await gateway.stop()
    async with OmsClient(routed_oms.target, token()) as api:
        await api.cancel_order(new[ORDER_ID])
        await api.submit_order(
            account_id="ACC1", symbol="AAPL", side="buy", quantity=50, limit_price=SWEEP,
            client_order_id="while-down",
        )  # fmt: skip
    # As if the gateway had died before its last checkpoint: the store must say the rest.
    shutil.copy(stale, cursor)
    await gateway.start()

    second = await clients.connect("DESK1")
    await second.wait_for(is_report("r-1", "4"), what="the cancel made while down")
    await second.wait_for(is_report("while-down", "2"), what="the fill made while down")
    assert_each_report_once([first, second], await account_head(routed_oms))


async def test_a_stopping_gateway_logs_its_sessions_out(gateway: RunningGateway) -> None:
    raw = await RawFix(gateway.port, "DESK1").connect()
    await raw.send(raw.logon(token()))
    await raw.read_until("A")
    stopping = asyncio.ensure_future(gateway.stop())
    logout = await raw.read_until("5")
    await raw.send(raw.message("5", []))
    await stopping
    assert logout[56] == "DESK1"
    await raw.close()


async def test_a_forced_disconnect_then_resend_and_a_poss_dup_order_make_one_order(
    clients: Clients, gateway: RunningGateway, routed_oms: RoutedOms
) -> None:
    first = await clients.connect("DESK1")
    await first.send("D", new_order("pd-1", 100, RESTING))
    (new,) = await first.wait_for(is_report("pd-1", "0"), what="New of pd-1")
    original = next(m for m in first.sent if m.get(CL_ORD_ID) == "pd-1")
    await first.drop()
    await disconnected(gateway, "DESK1")
    # The client lost everything the gateway sent it: it asks for it all again.
    _expect_from_gateway(first.store_dir, 1)

    second = await clients.connect("DESK1")
    (resent,) = await second.wait_for(is_report("pd-1", "0"), what="the New, resent")
    assert (resent.get(POSS_DUP_FLAG), resent[EXEC_ID]) == ("Y", new[EXEC_ID])
    assert 122 in resent.fields  # OrigSendingTime
    gap_fills = [m for m in second.received if m.msg_type == "4" and m.get(123) == "Y"]
    assert gap_fills, "the session messages in the gap are skipped by SequenceReset-GapFill"

    # Not sure the order arrived, the client sends it again with PossDupFlag=Y.
    await second.send(
        "D", new_order("pd-1", 100, RESTING), poss_dup=True, orig_time=_iso(original[52])
    )
    (status,) = await second.wait_for(
        lambda m: m.get(CL_ORD_ID) == "pd-1" and m.get(EXEC_TYPE) == "I", what="order status"
    )
    assert (status[ORDER_ID], status[ORD_STATUS]) == (new[ORDER_ID], "0")
    async with OmsClient(routed_oms.target, token()) as api:
        orders = [o async for o in api.iter_orders("ACC1") if o.client_order_id == "pd-1"]
    assert len(orders) == 1


async def test_an_oms_restart_breaks_the_order_entry_stream_and_later_orders_pass_once(
    clients: Clients, routed_oms: RoutedOms
) -> None:
    desk = await clients.connect("DESK1")
    await desk.send("D", new_order("ob-1", 100, RESTING))
    await desk.wait_for(is_report("ob-1", "0"), what="New of ob-1")

    await routed_oms.restart()  # the session's order entry stream breaks
    for cl_ord_id in ("ob-2", "ob-3"):
        await desk.send("D", new_order(cl_ord_id, 100, RESTING))
    await desk.wait_for(is_report("ob-2", "0"), what="New of ob-2, on a new stream")
    await desk.send("F", cancel("ob-2c", "ob-2"))
    await desk.wait_for(is_report("ob-2c", "4"), what="ob-2 cancelled")
    await desk.wait_for(is_report("ob-3", "0"), what="New of ob-3")

    async with OmsClient(routed_oms.target, token()) as api:
        placed = [o.client_order_id async for o in api.iter_orders("ACC1")]
    assert sorted(placed) == ["ob-1", "ob-2", "ob-3"]
    for cl_ord_id in ("ob-1", "ob-3"):
        statuses = [m[ORD_STATUS] for m in reports_for(desk.received, cl_ord_id)]
        assert statuses == ["0"], (cl_ord_id, statuses)
    assert not desk.of_type("j") and not desk.of_type("9"), "nothing was refused"


async def _state(api: OmsClient, order_id: str, state: int) -> bool:
    return (await api.get_order(order_id)).state == state


def _expect_from_gateway(store_dir: Path, next_seq: int) -> None:
    """Rewind what jspurefix's store says it expects next from the gateway."""
    (seqnums,) = store_dir.glob("*.seqnums")
    sender, _, _ = seqnums.read_text().partition(" : ")
    seqnums.write_text(f"{sender} : {next_seq:>20}")


def _iso(sending_time: str) -> str:
    """A FIX UTCTimestamp (YYYYMMDD-HH:MM:SS.sss) as ISO 8601."""
    day, _, clock = sending_time.partition("-")
    return f"{day[:4]}-{day[4:6]}-{day[6:]}T{clock}Z"

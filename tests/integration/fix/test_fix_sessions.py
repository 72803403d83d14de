"""FIX sessions: logon by bearer token, heartbeats as asked, accounts enforced, drop copy."""

from __future__ import annotations

import pytest

from clients.sdk import OmsClient
from oms_server.api.auth import issue_token
from oms_server.domain.access import Role
from tests.integration.fix.conftest import Clients, RunningGateway, admin_token
from tests.support.fix_messages import (
    ACCOUNT,
    CL_ORD_ID,
    EXEC_TYPE,
    ORD_REJ_REASON,
    ORD_STATUS,
    TEXT,
    new_order,
)
from tests.support.fix_raw import RawFix
from tests.support.fixtures import TEST_SECRET, token
from tests.support.market import RoutedOms

pytestmark = pytest.mark.timeout(90)

FOREIGN_SECRET = "another-secret-the-oms-never-signed-with-0123"


async def test_a_good_token_logs_on_with_the_heartbeat_the_client_asked_for(
    clients: Clients,
) -> None:
    desk = await clients.connect("DESK1", heartbeat_s=7)
    (logon,) = desk.of_type("A")
    assert (logon[49], logon[56], logon[108]) == ("OMS", "DESK1", "7")
    await desk.logout()
    assert desk.of_type("5"), "the gateway answers the Logout"


@pytest.mark.parametrize(
    ("password", "text"),
    [
        ("not-a-token", "not a bearer token"),
        (issue_token(FOREIGN_SECRET, "mallory", Role.ADMIN), "the OMS refused the token"),
        (issue_token(TEST_SECRET, "late", Role.TRADER, ["ACC1"], ttl_s=-10), "expired"),
        ("", "Password (554) must be a bearer token"),
    ],
)
async def test_a_bad_token_gets_a_logout_with_a_text_then_the_connection_closes(
    clients: Clients, gateway: RunningGateway, password: str, text: str
) -> None:
    intruder = await clients.connect("INTRUDER", password, logged_on=False)
    await intruder.wait_stopped()
    assert not intruder.ready
    (logout,) = intruder.of_type("5")
    assert text in logout[58]
    assert gateway.gateway is not None and gateway.gateway.session("INTRUDER") is None


async def test_a_bad_token_on_a_known_session_is_refused_by_the_session(
    clients: Clients, gateway: RunningGateway
) -> None:
    desk = await clients.connect("DESK2")
    await desk.logout()
    retry = await clients.connect(
        "DESK2", issue_token(FOREIGN_SECRET, "x", Role.TRADER), logged_on=False
    )
    await retry.wait_stopped()
    (logout,) = retry.of_type("5")
    assert "the OMS refused the token" in logout[58]
    # The session's numbers carried on: the Logout is the session's next message.
    assert int(logout[34]) > 1


async def test_the_wrong_target_comp_id_is_refused(gateway: RunningGateway) -> None:
    raw = await RawFix(gateway.port, "DESK9", target="XYZ").connect()
    await raw.send(raw.logon(token()))
    logout = await raw.read_until("5")
    assert "TargetCompID (56) must be OMS" in logout[58]
    assert await raw.closed()


async def test_a_trader_session_cannot_touch_another_account(
    clients: Clients, routed_oms: RoutedOms
) -> None:
    async with OmsClient(routed_oms.target, token(Role.TRADER, ("ACC2",))) as other:
        theirs = await other.submit_order(
            account_id="ACC2", symbol="AAPL", side="buy", quantity=10, limit_price="180",
            client_order_id="theirs",
        )  # fmt: skip
    desk = await clients.connect("DESK1")
    await desk.send("D", new_order("mine", 10, "180.00", Account="ACC2"))
    await desk.send("F", {"ClOrdID": "x", "OrigClOrdID": "theirs", "Account": "ACC2",
                          "OrderID": theirs.order_id, "Side": "1",
                          "TransactTime": "2026-01-01T00:00:00Z",
                          "Instrument": {"Symbol": "AAPL"}})  # fmt: skip
    (rejected,) = await desk.wait_for(lambda m: m.get(CL_ORD_ID) == "mine", what="reject")
    assert (rejected[ORD_STATUS], rejected[ORD_REJ_REASON]) == ("8", "99")
    assert "ACCOUNT_NOT_PERMITTED" in rejected[TEXT]
    (cancel_reject,) = await desk.wait_for(lambda m: m.msg_type == "9", what="cancel reject")
    assert cancel_reject[CL_ORD_ID] == "x"
    async with OmsClient(routed_oms.target, token(Role.TRADER, ("ACC2",))) as other:
        assert (await other.get_order(theirs.order_id)).state == theirs.state


async def test_a_drop_copy_sees_every_account_it_follows_and_may_not_trade(
    clients: Clients, routed_oms: RoutedOms
) -> None:
    drop = await clients.connect("DROPCOPY", admin_token(("ACC1", "ACC2")))
    desk = await clients.connect("DESK1")
    await desk.send("D", new_order("desk-order", 10, "180.00"))
    async with OmsClient(routed_oms.target, token(Role.TRADER, ("ACC2",))) as other:
        await other.submit_order(
            account_id="ACC2", symbol="AAPL", side="buy", quantity=5, limit_price="170",
            client_order_id="api-order",
        )  # fmt: skip
    for cl_ord_id, account in (("desk-order", "ACC1"), ("api-order", "ACC2")):
        (new,) = await drop.wait_for(
            lambda m, c=cl_ord_id: m.get(CL_ORD_ID) == c and m.get(EXEC_TYPE) == "0",
            what=f"New of {cl_ord_id}",
        )
        assert new[ACCOUNT] == account
    await drop.send("D", new_order("from-drop", 10, "180.00", Account="ACC1"))
    (refused,) = await drop.wait_for(lambda m: m.msg_type == "j", what="BusinessMessageReject")
    assert (refused[380], refused[372]) == ("6", "D")
    assert "read-only" in refused[58]


async def test_a_drop_copy_needs_an_admin_token(clients: Clients) -> None:
    drop = await clients.connect("DROPCOPY", token(), logged_on=False)
    await drop.wait_stopped()
    (logout,) = drop.of_type("5")
    assert "needs an admin token" in logout[58]

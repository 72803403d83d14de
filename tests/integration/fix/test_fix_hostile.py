"""Hostile FIX input over raw sockets: a clear session-level answer or a disconnect,
nothing stored, and the sessions of others unaffected."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from clients.sdk import OmsClient
from tests.integration.fix.conftest import TEST_LOGON_TIMEOUT_S, Clients, RunningGateway
from tests.support.fix_client import JsFixClient
from tests.support.fix_messages import CL_ORD_ID, EXEC_TYPE, new_order
from tests.support.fix_raw import RawFix, encode
from tests.support.fixtures import token
from tests.support.market import RoutedOms

pytestmark = pytest.mark.timeout(120)

ORDER_BODY = [(11, "evil-1"), (55, "AAPL"), (54, "1"), (38, "100"), (40, "2"), (44, "180")]
ONE_MB = 1024 * 1024


@pytest.fixture
async def bystander(clients: Clients) -> JsFixClient:
    """A session that must not notice what the hostile connections do."""
    return await clients.connect("BYSTANDER")


@pytest.fixture
async def raw(gateway: RunningGateway) -> AsyncIterator[RawFix]:
    """A raw connection logged on as EVIL (a valid token: hostile after logon)."""
    connection = await RawFix(gateway.port, "EVIL").connect()
    await connection.send(connection.logon(token()))
    logon = await connection.read_until("A")
    assert logon[56] == "EVIL"
    try:
        yield connection
    finally:
        await connection.close()


async def still_trades(client: JsFixClient, cl_ord_id: str) -> None:
    await client.send("D", new_order(cl_ord_id, 10, "180.00"))
    await client.wait_for(
        lambda m: m.get(CL_ORD_ID) == cl_ord_id and m.get(EXEC_TYPE) == "0", what="New"
    )


async def no_orders_named(oms: RoutedOms, *cl_ord_ids: str) -> bool:
    async with OmsClient(oms.target, token()) as api:
        return not [o async for o in api.iter_orders("ACC1") if o.client_order_id in cl_ord_ids]


def no_session(gateway: RunningGateway, comp_id: str) -> bool:
    assert gateway.gateway is not None
    stored = list((gateway.state_dir / "store").glob(f"*-{comp_id}.*"))
    return gateway.gateway.session(comp_id) is None and not stored


@pytest.mark.parametrize(
    ("first_bytes", "answer"),
    [
        (
            encode([(35, "A"), (49, "OLD"), (56, "OMS"), (34, "1"), (108, "30")], begin="FIX.4.2"),
            "Incorrect BeginString",
        ),
        (encode([(35, "A"), (49, "OLD"), (56, "OMS"), (34, "1"), (108, "30")], checksum=7), None),
        (b"\x00\xff garbage, not FIX \r\n" * 20, None),
        (b"8=FIX.4.4\x019=" + str(ONE_MB).encode() + b"\x0135=A\x01" + b"x" * ONE_MB, None),
        (encode([(35, "D"), (49, "OLD"), (56, "OMS"), (34, "1"), *ORDER_BODY]), None),
    ],
    ids=["wrong-begin-string", "bad-checksum", "garbage", "one-megabyte", "not-a-logon"],
)
async def test_a_bad_first_message_is_answered_or_dropped_and_opens_nothing(
    gateway: RunningGateway, bystander: JsFixClient, first_bytes: bytes, answer: str | None
) -> None:
    connection = await RawFix(gateway.port, "OLD").connect()
    with contextlib.suppress(ConnectionError):  # it may close before it read it all
        await connection.send(first_bytes)
    if answer is not None:
        logout = await connection.read_until("5")
        assert answer in logout[58]
    assert await connection.closed()
    assert no_session(gateway, "OLD")
    await still_trades(bystander, "after-first")


async def test_missing_and_malformed_fields_are_refused_naming_the_tag(
    raw: RawFix, routed_oms: RoutedOms, bystander: JsFixClient
) -> None:
    without_symbol = [(t, v) for t, v in ORDER_BODY if t != 55]
    await raw.send(raw.message("D", without_symbol))
    business = await raw.read_until("j")
    assert (business[380], business[372]) == ("5", "D")
    assert "(55)" in business[58]

    for tag, value, reason in ((54, "7", "5"), (38, "lots", "6"), (40, "Z", "5")):
        body = [(t, value if t == tag else v) for t, v in ORDER_BODY]
        await raw.send(raw.message("D", [(11, f"evil-{tag}"), *body[1:]]))
        reject = await raw.read_until("3")
        assert (reject[371], reject[373], reject[372]) == (str(tag), reason, "D")

    await raw.send(raw.message("AE", [(571, "trade-report")]))
    unsupported = await raw.read_until("j")
    assert (unsupported[380], unsupported[372]) == ("3", "AE")
    assert await no_orders_named(routed_oms, "evil-1", "evil-54", "evil-38", "evil-40")
    await still_trades(bystander, "after-fields")


async def test_a_bad_checksum_is_ignored_and_the_gap_it_leaves_is_asked_for(
    raw: RawFix, routed_oms: RoutedOms
) -> None:
    await raw.send(raw.message("D", ORDER_BODY, checksum=0))
    await raw.send(raw.message("0", []))  # a Heartbeat, one number past the lost message
    resend = await raw.read_until("2")
    assert (resend[7], resend[16]) == ("2", "0")
    assert await no_orders_named(routed_oms, "evil-1")


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        (b"\x01\x02\x03 not FIX at all " * 8, "garbled input"),
        (b"8=FIX.4.4\x019=" + str(ONE_MB).encode() + b"\x01" + b"5" * ONE_MB, "over the limit"),
        (None, "Incorrect BeginString"),
    ],
    ids=["garbage", "one-megabyte", "wrong-begin-string"],
)
async def test_bad_bytes_in_a_session_get_a_logout_then_the_connection_closes(
    raw: RawFix,
    routed_oms: RoutedOms,
    bystander: JsFixClient,
    payload: bytes | None,
    text: str,
) -> None:
    if payload is None:
        payload = raw.message("D", ORDER_BODY, begin="FIX.4.2")
    await raw.send(payload)
    logout = await raw.read_until("5")
    assert text in logout[58]
    assert await raw.closed()
    assert await no_orders_named(routed_oms, "evil-1")
    await still_trades(bystander, "after-bytes")


async def test_a_flood_of_logons_leaves_the_open_sessions_alone(
    gateway: RunningGateway, bystander: JsFixClient, clients: Clients
) -> None:
    silent = [await RawFix(gateway.port, f"SILENT{i}").connect() for i in range(100)]
    bad = [RawFix(gateway.port, f"BAD{i}") for i in range(40)]
    for connection in bad:
        await connection.connect()
    await asyncio.gather(*(c.send(c.logon("not-a-token")) for c in bad))
    await still_trades(bystander, "during-flood")

    # Past the pending-logon limit, connections close at once; the rest at the timeout.
    closed = await asyncio.gather(*(c.closed(TEST_LOGON_TIMEOUT_S + 5) for c in silent))
    assert all(closed)
    answers = await asyncio.gather(*(_logout_or_close(c) for c in bad))
    assert all(a is None or "not a bearer token" in a for a in answers)
    assert gateway.gateway is not None
    assert not [c for c in ("SILENT0", "BAD0") if gateway.gateway.session(c) is not None]

    late = await clients.connect("LATECOMER")
    await still_trades(late, "after-flood")
    for connection in silent + bad:
        await connection.close()


async def _logout_or_close(connection: RawFix) -> str | None:
    """The Text of the Logout the connection got, or None if it was closed without one."""
    message = await connection.read_message(TEST_LOGON_TIMEOUT_S + 5)
    return None if message is None or message.msg_type != "5" else message.get(58)

"""The operator page's HTTP side: token checks, who sees what, and a feed that resumes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from oms_server.api.auth import issue_token
from oms_server.domain.access import Role
from oms_server.web import feed
from tests.support.fixtures import TEST_SECRET, RunningOms, call_metadata, token
from tests.support.orders import limit_buy
from tests.support.sse import EventStream, SseEvent, call

pytestmark = pytest.mark.timeout(60)

ADMIN = token(Role.ADMIN, ())
TRADER = token(Role.TRADER, ("ACC1",))


@pytest.fixture
async def web_oms(sqlite_url: str, tmp_path: Path) -> AsyncIterator[RunningOms]:
    running = RunningOms(sqlite_url, tmp_path / "state", web_addr="127.0.0.1:0")
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


def _base(oms: RunningOms) -> str:
    assert oms.web_addr is not None
    return oms.web_addr


def _reports(event: SseEvent) -> list[dict[str, object]]:
    assert event.event == "reports"
    data = event.json()
    assert isinstance(data, list)
    return data


def _has_order(order_id: str):  # type: ignore[no-untyped-def]
    return lambda e: e.event == "reports" and any(r["order_id"] == order_id for r in _reports(e))


async def test_a_bad_or_expired_token_gets_401_with_the_reason_and_no_data(
    web_oms: RunningOms,
) -> None:
    base = _base(web_oms)
    page = await call(base, "GET", "/")
    assert page.status == 200 and b'name="token"' in page.body

    as_form = await call(
        base, "POST", "/api/session", headers={"Content-Type": "text/plain"}, json_body={}
    )
    assert as_form.status == 415, "a cross-site form may not sign a browser in"
    garbage = await call(base, "POST", "/api/session", json_body={"token": "not-a-jwt"})
    assert garbage.status == 401
    assert "invalid token" in str(garbage.json())

    expired = issue_token(TEST_SECRET, "old", Role.ADMIN, ttl_s=-10)
    refused = await call(base, "POST", "/api/session", json_body={"token": expired})
    assert refused.status == 401 and "expired" in str(refused.json())

    stream = await EventStream.open(base, token=expired)
    try:
        assert stream.status == 401
    finally:
        await stream.close()
    anonymous = await call(base, "GET", "/api/events")
    assert anonymous.status == 401 and "not signed in" in str(anonymous.json())

    signed_in = await call(base, "POST", "/api/session", json_body={"token": TRADER})
    assert signed_in.status == 200
    assert signed_in.json() == {
        "subject": "test-trader",
        "role": "trader",
        "admin": False,
        "accounts": ["ACC1"],
        "expires": signed_in.json()["expires"],  # type: ignore[index]
    }
    assert "httponly" in signed_in.headers["set-cookie"].lower()


async def test_the_feed_resumes_from_last_event_id_missing_nothing_repeating_nothing(
    web_oms: RunningOms,
) -> None:
    base = _base(web_oms)
    md = call_metadata(Role.TRADER, ("ACC1",))
    first = (await web_oms.orders.SubmitOrder(limit_buy("f1"), metadata=md)).order.order_id
    stream = await EventStream.open(base, token=TRADER)
    try:
        assert stream.status == 200
        seen = await stream.until(_has_order(first))
        assert seen.id is not None
        seen_sequences = {r["sequence"] for r in _reports(seen)}
    finally:
        await stream.close()

    # While no page is connected: two more orders.
    missed = []
    for client_id in ("f2", "f3"):
        reply = await web_oms.orders.SubmitOrder(limit_buy(client_id), metadata=md)
        missed.append(reply.order.order_id)

    resumed = await EventStream.open(base, token=TRADER, last_event_id=seen.id)
    try:
        event = await resumed.until(_has_order(missed[-1]))
        got = [r for e in resumed.seen if e.event == "reports" for r in _reports(e)]
    finally:
        await resumed.close()
    assert {r["order_id"] for r in got} == set(missed)
    sequences = [r["sequence"] for r in got]
    assert sequences == sorted(set(sequences)), "in order, no duplicates"
    assert min(sequences) == max(seen_sequences) + 1, "nothing missed between the streams"
    assert event.id is not None and event.id.startswith("ACC1:")


async def test_a_trader_sees_only_its_accounts_and_may_not_halt(web_oms: RunningOms) -> None:
    base = _base(web_oms)
    other = await web_oms.orders.SubmitOrder(
        limit_buy("other", account_id="ACC2"), metadata=call_metadata(Role.ADMIN, ())
    )
    mine = await web_oms.orders.SubmitOrder(limit_buy("mine"), metadata=call_metadata())
    stream = await EventStream.open(base, token=TRADER)
    try:
        await stream.until(_has_order(mine.order.order_id))
        accounts = await stream.until(lambda e: e.event == "accounts")
    finally:
        await stream.close()
    shown = {r["account_id"] for e in stream.seen if e.event == "reports" for r in _reports(e)}
    assert shown == {"ACC1"}
    assert other.order.order_id not in str([e.data for e in stream.seen])
    assert [a["account_id"] for a in accounts.json()] == ["ACC1"]  # type: ignore[union-attr, index]

    refused = await call(base, "POST", "/api/halt", token=TRADER, json_body={})
    assert refused.status == 403
    assert web_oms.app is not None and web_oms.app.engine is not None
    assert web_oms.app.engine.halted("ACC1") is None

    halted = await call(base, "POST", "/api/halt", token=ADMIN, json_body={"account_id": "ACC2"})
    assert halted.status == 200, halted.body
    assert web_oms.app.engine.halted("ACC2") is not None
    assert web_oms.app.engine.halted("ACC1") is None
    resumed = await call(base, "POST", "/api/resume", token=ADMIN, json_body={"account_id": "ACC2"})
    assert resumed.status == 200 and web_oms.app.engine.halted("ACC2") is None


async def test_an_admin_page_follows_at_most_max_page_accounts_and_says_so(
    web_oms: RunningOms, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed, "MAX_PAGE_ACCOUNTS", 1)
    stream = await EventStream.open(_base(web_oms), token=ADMIN)
    try:
        hello = await stream.until(lambda e: e.event == "hello")
        accounts = await stream.until(lambda e: e.event == "accounts")
    finally:
        await stream.close()
    assert hello.json() == {
        "subject": "test-admin",
        "role": "admin",
        "admin": True,
        "accounts_shown": 1,
        "accounts_total": 2,
    }
    assert [a["account_id"] for a in accounts.json()] == ["ACC1"]  # type: ignore[union-attr, index]

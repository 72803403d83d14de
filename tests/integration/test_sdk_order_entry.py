"""The SDK's streamed order entry (``order_entry``, ``open_order_entry``) against the real OMS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from clients.sdk import (
    Cancel,
    DuplicateClientOrderId,
    EntryAck,
    NotFound,
    OmsClient,
    OmsError,
    Replace,
    Submit,
    SyncOmsClient,
    Unauthenticated,
)
from oms_server.api.order_entry import MAX_IN_FLIGHT_PER_STREAM
from protos.oms.v1 import common_pb2
from protos.oms.v1 import order_service_pb2 as pb
from tests.integration.test_sdk import client_for
from tests.support.fixtures import RunningOms, token

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def client(oms_sqlite: RunningOms) -> AsyncIterator[OmsClient]:
    assert oms_sqlite.app is not None
    async with client_for(oms_sqlite.app.address) as oms_client:
        yield oms_client


def buy(client_order_id: str | None = None, **terms: object) -> Submit:
    fields: dict[str, object] = {
        "account_id": "ACC1",
        "symbol": "AAPL",
        "side": "buy",
        "quantity": "100",
        "limit_price": "190.00",
        "client_order_id": client_order_id,
    }
    return Submit(**{**fields, **terms})  # type: ignore[arg-type]


async def acks_of(client: OmsClient, *requests: object) -> dict[str, EntryAck]:
    """Every request on one stream; the acks by correlation id."""
    acks = {ack.correlation_id: ack async for ack in client.order_entry(requests)}  # type: ignore[arg-type]
    assert len(acks) == len(requests)
    return acks


async def test_submit_cancel_and_replace_through_order_entry(client: OmsClient) -> None:
    placed = await acks_of(
        client, buy("oe-1", correlation_id="one"), buy("oe-2", correlation_id="two")
    )
    one, two = placed["one"].result(), placed["two"].result()
    assert (one.client_order_id, one.state) == ("oe-1", common_pb2.ORDER_STATE_NEW)
    assert one.order_type == common_pb2.ORDER_TYPE_LIMIT  # from the prices, as submit_order
    changed = await acks_of(
        client,
        Cancel(one.order_id, correlation_id="c"),
        Replace(two.order_id, quantity=150, client_order_id="oe-2b", correlation_id="r"),
    )
    assert changed["c"].result().state == common_pb2.ORDER_STATE_CANCELED
    replacement = changed["r"].result()
    assert (replacement.quantity, replacement.client_order_id) == ("150", "oe-2b")
    assert (await client.get_order(one.order_id)).state == common_pb2.ORDER_STATE_CANCELED


async def test_a_duplicate_is_refused_on_the_stream_as_the_typed_error(client: OmsClient) -> None:
    first = await client.submit_order(
        account_id="ACC1", symbol="AAPL", side="buy", quantity=100, limit_price="190.00",
        client_order_id="oe-dup",
    )  # fmt: skip
    acks = await acks_of(
        client,
        buy("oe-dup", symbol="MSFT", limit_price="420", correlation_id="dup"),
        buy("oe-dup", correlation_id="same"),
        buy("oe-after", correlation_id="after"),
    )
    refused = acks["dup"]
    assert not refused.ok and refused.order is None
    assert isinstance(refused.error, DuplicateClientOrderId)
    assert (refused.error.order_id, refused.error.term) == (first.order_id, "symbol")
    assert refused.request is not None and refused.request.submit.symbol == "MSFT"
    with pytest.raises(DuplicateClientOrderId):
        refused.result()
    assert acks["same"].result().order_id == first.order_id  # a retry with the same terms
    assert acks["after"].ok  # the stream carried on after the refusal


async def test_every_ack_names_its_request_by_correlation_id(client: OmsClient) -> None:
    requests: list[object] = [buy(f"oe-cid-{i}") for i in range(10)]
    requests += [buy(f"oe-given-{i}", correlation_id=f"given-{i}") for i in range(10)]
    requests.append(pb.SubmitOrderRequest(**_raw_buy("oe-raw")))
    requests.append(pb.OrderEntryRequest(correlation_id="raw-entry", submit=_raw_buy("oe-raw-2")))
    acks = await acks_of(client, *requests)
    assert {f"given-{i}" for i in range(10)} | {"raw-entry"} <= set(acks)
    for correlation_id, ack in acks.items():
        assert ack.request is not None and ack.request.correlation_id == correlation_id
        assert ack.result().client_order_id == ack.request.submit.client_order_id
    assert len({ack.result().order_id for ack in acks.values()}) == len(requests)


async def test_a_session_sends_requests_that_depend_on_earlier_answers(client: OmsClient) -> None:
    async with client.open_order_entry() as entry:
        order = await entry.submit(
            account_id="ACC1", symbol="AAPL", side="buy", quantity=100, limit_price="190"
        )
        replaced = await entry.replace(order.order_id, limit_price="189.50")
        canceled = await entry.cancel(replaced.order_id)
        with pytest.raises(NotFound):
            await entry.cancel("no-such-order")
        assert entry.in_flight == 0
    assert canceled.state == common_pb2.ORDER_STATE_CANCELED
    assert Decimal(replaced.limit_price) == Decimal("189.50")


async def test_many_more_requests_than_the_servers_window_all_complete(
    client: OmsClient,
) -> None:
    count = MAX_IN_FLIGHT_PER_STREAM * 3
    async with client.open_order_entry() as entry:
        futures = [entry.submit(**_raw_buy(f"oe-many-{i}")) for i in range(count)]
        assert entry.in_flight == count
        orders = await asyncio.gather(*futures)
    assert [o.client_order_id for o in orders] == [f"oe-many-{i}" for i in range(count)]
    assert len({o.order_id for o in orders}) == count


async def test_at_most_max_in_flight_requests_are_unanswered(client: OmsClient) -> None:
    pulled = answered = most = 0

    async def requests() -> AsyncIterator[Submit]:
        nonlocal pulled, most
        for i in range(100):
            pulled += 1
            most = max(most, pulled - answered)
            yield buy(f"oe-window-{i}")

    async for ack in client.order_entry(requests(), max_in_flight=8):
        assert ack.ok
        answered += 1
    assert (pulled, answered) == (100, 100)
    assert most <= 8  # the caller's iterable is not read ahead of the window


async def test_a_correlation_id_still_in_flight_is_refused_before_sending(
    client: OmsClient,
) -> None:
    async with client.open_order_entry() as entry:
        first = entry.submit(**_raw_buy("oe-cid-a"), correlation_id="twice")
        with pytest.raises(ValueError, match="in flight"):
            entry.submit(**_raw_buy("oe-cid-b"), correlation_id="twice")
        with pytest.raises(ValueError, match="longer than 64"):
            entry.submit(**_raw_buy("oe-cid-c"), correlation_id="x" * 65)
        await first
        again = await entry.submit(**_raw_buy("oe-cid-d"), correlation_id="twice")
    assert again.client_order_id == "oe-cid-d"


async def test_a_request_that_cannot_be_sent_raises_and_leaves_the_stream_working(
    client: OmsClient,
) -> None:
    async with client.open_order_entry() as entry:
        first = entry.submit(**_raw_buy("oe-bad-a"))
        with pytest.raises(TypeError, match="limit_price"):
            entry.submit(**{**_raw_buy("oe-bad-b"), "limit_price": 189.0})
        with pytest.raises(ValueError, match="unknown side"):
            entry.submit(**{**_raw_buy("oe-bad-c"), "side": "sideways"})
        after = await entry.submit(**_raw_buy("oe-bad-d"))
        assert entry.broken is None
    assert ((await first).client_order_id, after.client_order_id) == ("oe-bad-a", "oe-bad-d")


async def test_a_broken_stream_fails_the_unanswered_futures(
    oms_sqlite: RunningOms, client: OmsClient
) -> None:
    async with client.open_order_entry() as entry:
        await entry.submit(**_raw_buy("oe-before"))
        await oms_sqlite.stop()
        with pytest.raises(OmsError):
            await entry.submit(**_raw_buy("oe-during"))
        with pytest.raises(OmsError) as later:
            await entry.submit(**_raw_buy("oe-later"))  # fails at once: the stream is gone
        assert entry.broken is later.value


async def test_a_stream_with_a_bad_token_raises_unauthenticated(oms_sqlite: RunningOms) -> None:
    assert oms_sqlite.app is not None
    async with client_for(oms_sqlite.app.address, token="x" * 40) as forged:
        with pytest.raises(Unauthenticated):
            await acks_of(forged, buy("oe-forged"))


async def test_the_sync_client_streams_a_list_of_requests(oms_sqlite: RunningOms) -> None:
    assert oms_sqlite.app is not None
    address = oms_sqlite.app.address

    def session() -> list[str]:
        with SyncOmsClient(address, token()) as sync:
            acks = list(sync.order_entry([buy("oe-sync-1"), buy("oe-sync-2")]))
        return sorted(a.result().client_order_id for a in acks)

    assert await asyncio.to_thread(session) == ["oe-sync-1", "oe-sync-2"]


def _raw_buy(client_order_id: str) -> dict[str, object]:
    """Terms of a resting limit buy, as Submit keywords and as SubmitOrderRequest fields."""
    return {
        "account_id": "ACC1",
        "client_order_id": client_order_id,
        "symbol": "AAPL",
        "side": common_pb2.SIDE_BUY,
        "order_type": common_pb2.ORDER_TYPE_LIMIT,
        "time_in_force": common_pb2.TIME_IN_FORCE_DAY,
        "quantity": "10",
        "limit_price": "189.00",
    }


async def test_a_failure_of_the_callers_requests_ends_the_stream_with_it(
    client: OmsClient,
) -> None:
    async def requests() -> AsyncIterator[Submit]:
        yield buy("oe-first", correlation_id="first")
        raise LookupError("the caller's source broke")

    seen: list[str] = []
    with pytest.raises(LookupError, match="source broke"):
        async for ack in client.order_entry(requests()):
            seen.append(ack.correlation_id)
    assert seen in ([], ["first"])  # the answer may or may not have come before


async def test_a_closed_client_ends_its_streams_with_closed(client: OmsClient) -> None:
    opened = asyncio.Event()

    async def requests() -> AsyncIterator[Submit]:
        yield buy("oe-open")
        opened.set()
        await asyncio.Event().wait()  # keeps the stream open
        yield buy("never")  # pragma: no cover

    async def follow() -> list[EntryAck]:
        return [ack async for ack in client.order_entry(requests())]

    following = asyncio.create_task(follow())
    await asyncio.wait_for(opened.wait(), 10)
    await client.close()
    with pytest.raises(OmsError) as closed:
        await asyncio.wait_for(following, 10)
    assert closed.value.reason == "CLOSED"

"""Overload over real gRPC: a flooding account is refused early with RESOURCE_EXHAUSTED,
a light account beside it is never starved, and nothing refused is stored."""

from __future__ import annotations

import asyncio
from collections import Counter

import grpc
import pytest

from clients.sdk import OmsClient
from clients.sdk.client import RetryPolicy
from oms_server.engine.fair_share import FairShareLimits
from protos.oms.v1 import order_service_pb2 as pb
from tests.support.fixtures import RunningOms, call_metadata, token
from tests.support.orders import limit_buy

pytestmark = pytest.mark.timeout(120)

FLOOD = 600
LIGHT_ORDERS = 20
#: A writer that is behind once 32 orders wait and the oldest has waited 20 ms.
LIMITS = FairShareLimits(target_delay_s=0.02, min_account_share=4, min_waiting=32)
#: Each group commit takes this long (a slow disk), so a flood sent at once is always
#: more than the writer clears within the limit, however fast the machine is.
SLOW_COMMIT_S = 0.05
HEAVY, LIGHT = call_metadata(accounts=("ACC1",)), call_metadata(accounts=("ACC2",))


@pytest.fixture
def overloaded(oms_sqlite: RunningOms, monkeypatch: pytest.MonkeyPatch) -> RunningOms:
    """The OMS on a slow disk, its fair share held to LIMITS."""
    assert oms_sqlite.app is not None and oms_sqlite.app.engine is not None
    engine = oms_sqlite.app.engine
    engine.fair_share.limits = LIMITS
    commit = engine.store.commit

    async def slow_commit(*args: object, **kwargs: object) -> object:
        await asyncio.sleep(SLOW_COMMIT_S)
        return await commit(*args, **kwargs)

    monkeypatch.setattr(engine.store, "commit", slow_commit)
    return oms_sqlite


async def submit(oms: RunningOms, request: pb.SubmitOrderRequest, md: tuple) -> grpc.StatusCode:
    try:
        await oms.orders.SubmitOrder(request, metadata=md, timeout=60)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def light_account(oms: RunningOms) -> list[grpc.StatusCode]:
    """One order at a time, as a light user sends them, while the flood is on."""
    codes = []
    for n in range(LIGHT_ORDERS):
        order = limit_buy(f"light-{n}", account_id="ACC2", quantity="1")
        codes.append(await submit(oms, order, LIGHT))
    return codes


async def stored(oms: RunningOms, account_id: str, md: tuple) -> int:
    listed = await oms.orders.ListOrders(
        pb.ListOrdersRequest(account_id=account_id, page_size=1000), metadata=md
    )
    return len(listed.orders)


async def test_a_flood_is_refused_early_and_a_light_account_is_not_starved(
    overloaded: RunningOms,
) -> None:
    oms_sqlite = overloaded
    flood = [submit(oms_sqlite, limit_buy(f"flood-{n}", quantity="1"), HEAVY) for n in range(FLOOD)]
    heavy_codes, light_codes = await asyncio.gather(
        asyncio.gather(*flood), light_account(oms_sqlite)
    )
    heavy = Counter(heavy_codes)
    assert set(heavy) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}, heavy
    assert heavy[grpc.StatusCode.RESOURCE_EXHAUSTED] > 0, "the flood was never held back"
    assert light_codes == [grpc.StatusCode.OK] * LIGHT_ORDERS
    assert await stored(oms_sqlite, "ACC1", HEAVY) == heavy[grpc.StatusCode.OK]
    assert await stored(oms_sqlite, "ACC2", LIGHT) == LIGHT_ORDERS


async def test_a_refusal_names_the_cause_and_a_retry_later_is_accepted(
    overloaded: RunningOms,
) -> None:
    oms_sqlite = overloaded
    refusals: list[grpc.aio.AioRpcError] = []

    async def one(n: int) -> None:
        try:
            await oms_sqlite.orders.SubmitOrder(
                limit_buy(f"again-{n}", quantity="1"), metadata=HEAVY, timeout=60
            )
        except grpc.aio.AioRpcError as exc:
            refusals.append(exc)

    await asyncio.gather(*(one(n) for n in range(FLOOD)))
    assert refusals, "the flood was never held back"
    assert "the order engine is behind" in (refusals[0].details() or "")
    retried = await submit(oms_sqlite, limit_buy("again-0", quantity="1"), HEAVY)
    assert retried is grpc.StatusCode.OK  # the same order again, once the queue drained


async def test_the_sdk_backs_off_and_every_order_of_a_flood_lands_once(
    overloaded: RunningOms,
) -> None:
    oms_sqlite = overloaded
    assert oms_sqlite.app is not None and oms_sqlite.app.engine is not None
    share = oms_sqlite.app.engine.fair_share
    patient = RetryPolicy(max_attempts=200, initial_backoff_s=0.02, max_backoff_s=0.5)
    async with OmsClient(oms_sqlite.app.address, token(), retry=patient) as client:
        orders = await asyncio.gather(
            *(
                client.submit_order(
                    account_id="ACC1", symbol="AAPL", side="buy", quantity="1",
                    limit_price="190.00", client_order_id=f"sdk-{n}",
                )
                for n in range(FLOOD)
            )
        )  # fmt: skip
    assert share.refused > 0, "the flood was never held back"
    assert len({o.order_id for o in orders}) == FLOOD
    assert await stored(oms_sqlite, "ACC1", HEAVY) == FLOOD

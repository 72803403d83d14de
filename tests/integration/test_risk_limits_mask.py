"""SetRiskLimits with an update mask through gRPC, the SDK and omsctl: changing one limit
keeps the others, across a restart; an unknown path is INVALID_ARGUMENT naming update_mask."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import field_mask_pb2

from clients.omsctl import EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from clients.sdk import InvalidArgument, OmsClient
from oms_server.domain.access import Role
from protos.oms.v1 import account_service_pb2 as pb
from protos.oms.v1 import account_service_pb2_grpc
from tests.support.fixtures import RunningOms, call_metadata, token
from tests.support.omsctl import Omsctl
from tests.support.orders import field_violations

ADMIN = call_metadata(Role.ADMIN, ())
#: Every limit away from its default, so a reset to defaults shows.
ALL_SET = pb.RiskLimits(
    max_order_quantity="100",
    max_order_notional="5000",
    price_collar_bps="50",
    restricted_symbols=["GME"],
    max_orders_per_second=7,
    allow_short=True,
    duplicate_window_ms=250,
)


def stub(oms: RunningOms) -> account_service_pb2_grpc.AccountServiceStub:
    assert oms.channel is not None
    return account_service_pb2_grpc.AccountServiceStub(oms.channel)


async def set_limits(oms: RunningOms, limits: pb.RiskLimits, *paths: str) -> pb.RiskLimits:
    request = pb.SetRiskLimitsRequest(
        account_id="ACC1", risk_limits=limits, update_mask=field_mask_pb2.FieldMask(paths=paths)
    )
    return (await stub(oms).SetRiskLimits(request, metadata=ADMIN)).account.risk_limits


async def stored_limits(oms: RunningOms) -> pb.RiskLimits:
    request = pb.GetAccountRequest(account_id="ACC1")
    return (await stub(oms).GetAccount(request, metadata=ADMIN)).account.risk_limits


def with_changes(**changes: object) -> pb.RiskLimits:
    expected = pb.RiskLimits()
    expected.CopyFrom(ALL_SET)
    for name, value in changes.items():
        if name == "restricted_symbols":
            expected.ClearField(name)
            expected.restricted_symbols.extend(value)  # type: ignore[call-overload]
        else:
            setattr(expected, name, value)
    return expected


@pytest.fixture
async def limited(oms_sqlite: RunningOms) -> RunningOms:
    """ACC1 with every limit set (an empty mask replaces them all)."""
    assert await set_limits(oms_sqlite, ALL_SET) == ALL_SET
    return oms_sqlite


async def test_a_masked_update_changes_only_the_named_limit_and_survives_a_restart(
    limited: RunningOms,
) -> None:
    changed = await set_limits(
        limited, pb.RiskLimits(max_order_quantity="500"), "max_order_quantity"
    )
    assert changed == with_changes(max_order_quantity="500")
    await limited.restart()
    assert await stored_limits(limited) == with_changes(max_order_quantity="500")


async def test_a_named_field_left_empty_goes_back_to_its_default_and_unnamed_ones_are_not_read(
    limited: RunningOms,
) -> None:
    update = pb.RiskLimits(price_collar_bps="not read", restricted_symbols=[])
    changed = await set_limits(limited, update, "restricted_symbols", "allow_short")
    assert changed == with_changes(restricted_symbols=[], allow_short=False)


async def test_an_empty_mask_replaces_every_limit(limited: RunningOms) -> None:
    changed = await set_limits(limited, pb.RiskLimits(max_order_quantity="500"))
    assert changed.max_order_quantity == "500"
    assert (changed.max_orders_per_second, changed.allow_short, changed.restricted_symbols) == (
        1000,
        False,
        [],
    )


async def test_an_unknown_path_is_invalid_argument_naming_update_mask(limited: RunningOms) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await set_limits(limited, pb.RiskLimits(max_order_quantity="1"), "max_qty")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(refused.value) == ["update_mask"]
    assert "max_qty" in (refused.value.details() or "")
    assert await stored_limits(limited) == ALL_SET


@pytest.fixture
async def admin(limited: RunningOms) -> AsyncIterator[OmsClient]:
    assert limited.app is not None
    async with OmsClient(limited.app.address, token(Role.ADMIN, ())) as client:
        yield client


async def test_the_sdk_builds_the_mask_from_keywords_or_takes_one(admin: OmsClient) -> None:
    account = await admin.set_risk_limits("ACC1", max_orders_per_second=3, allow_short=False)
    assert account.risk_limits == with_changes(max_orders_per_second=3, allow_short=False)
    update = pb.RiskLimits(max_order_notional="9000", max_order_quantity="1")
    account = await admin.set_risk_limits("ACC1", update, update_mask=["max_order_notional"])
    assert account.risk_limits == with_changes(
        max_orders_per_second=3, allow_short=False, max_order_notional="9000"
    )
    with pytest.raises(InvalidArgument) as refused:
        await admin.set_risk_limits("ACC1", update, update_mask=["nope"])
    assert [field for field, _ in refused.value.field_violations] == ["update_mask"]
    with pytest.raises(TypeError):
        await admin.set_risk_limits("ACC1", update, max_order_quantity="2")


@pytest.fixture
def omsctl(limited: RunningOms, capsys: pytest.CaptureFixture[str]) -> Omsctl:
    assert limited.app is not None
    return Omsctl(limited.app.address, capsys, default_token=token(Role.ADMIN, ()))


async def test_omsctl_changes_only_the_limits_it_is_given(omsctl: Omsctl) -> None:
    run = await omsctl("--json", "accounts", "limits", "ACC1", "--max-order-quantity", "500")
    assert run.code == EXIT_OK, run.err
    limits = run.json()["risk_limits"]
    assert (limits["max_order_quantity"], limits["max_order_notional"]) == ("500", "5000")
    assert (limits["restricted_symbols"], limits["allow_short"]) == (["GME"], True)

    run = await omsctl(
        "--json", "accounts", "limits", "ACC1", "--no-allow-short", "--no-restricted",
        "--duplicate-window-ms", "0",
    )  # fmt: skip
    assert run.code == EXIT_OK, run.err
    limits = run.json()["risk_limits"]
    assert (limits["allow_short"], limits["restricted_symbols"]) == (False, [])
    assert (limits["duplicate_window_ms"], limits["max_orders_per_second"]) == (0, 7)
    assert limits["max_order_quantity"] == "500"

    run = await omsctl(
        "--json", "accounts", "limits", "ACC1", "--restricted", "A", "--restricted", "B"
    )
    assert run.json()["risk_limits"]["restricted_symbols"] == ["A", "B"]


async def test_omsctl_limits_with_nothing_to_change_is_a_usage_error(omsctl: Omsctl) -> None:
    run = await omsctl("accounts", "limits", "ACC1")
    assert run.code == EXIT_USAGE and "a limit to change" in run.err
    refused = await omsctl("accounts", "limits", "ACC1", "--max-order-quantity", "-1")
    assert refused.code == EXIT_REFUSED and "max_order_quantity" in refused.err

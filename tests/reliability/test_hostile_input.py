"""Hostile input against the real gRPC server (DESIGN.md invariant 7).

Generated requests carry wrong or odd values in every field: huge strings, unicode
and control characters in ids, malformed and NaN-like decimals, unknown enum numbers,
bad page sizes and tokens; raw bytes that are not (or only barely) protobuf go to the
method paths directly, and oversized messages test the 1 MiB limit. For every call:

- it ends with a definite status: an answer or a clear refusal (INVALID_ARGUMENT,
  FAILED_PRECONDITION, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED,
  RESOURCE_EXHAUSTED), never UNKNOWN, never INTERNAL, never a deadline;
- a request with exactly one bad field is refused with INVALID_ARGUMENT naming it;
- a refused call leaves the store as it was (row counts and account balances);
- the server still answers its health check with SERVING.

Left to grpc itself: a message over 1 MiB gets RESOURCE_EXHAUSTED before any of our
code runs. Bytes that do not decode as the request type are refused by grpc.aio with
UNKNOWN ("Unexpected <class DecodeError>") unless the server maps them; we require
INVALID_ARGUMENT, as the client sent a bad request.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal, localcontext

import grpc
import pytest
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from oms_server.api.server import MAX_MESSAGE_BYTES
from oms_server.domain.access import Role
from oms_server.store import schema
from protos.oms.v1 import account_service_pb2 as apb
from protos.oms.v1 import account_service_pb2_grpc, common_pb2
from protos.oms.v1 import order_service_pb2 as pb
from tests.support.fixtures import INSTRUMENTS, RunningOms, call_metadata
from tests.support.orders import field_violations, limit_buy

Code = grpc.StatusCode
TRADER = call_metadata()
ADMIN = call_metadata(Role.ADMIN, ())
#: Every call gets a deadline, so a hang shows up as DEADLINE_EXCEEDED: not definite.
CALL_TIMEOUT_S = 5.0
#: The answers a well-formed request may get besides OK.
REFUSALS = frozenset(
    {
        Code.INVALID_ARGUMENT,
        Code.FAILED_PRECONDITION,
        Code.NOT_FOUND,
        Code.ALREADY_EXISTS,
        Code.PERMISSION_DENIED,
        Code.RESOURCE_EXHAUSTED,
        Code.OUT_OF_RANGE,
    }
)
#: Tables whose row counts a refused request must not change.
COUNTED_TABLES = (
    schema.orders,
    schema.order_events,
    schema.child_orders,
    schema.executions,
    schema.accounts,
    schema.positions,
    schema.halts,
)

HOSTILE = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one server for every example, on purpose
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# -- hostile values -------------------------------------------------------------------

#: Ids the server must refuse: empty, too long, padded, or with a non-printable character.
BAD_IDS = [
    "",
    " ",
    "\t",
    " ACC1",
    "ACC1 ",
    "ACC1\n",
    "ACC1\x00",
    "AC\u200bC1",
    "\ufeffACC1",
    "ACC1\u202e",
    "\x7f",
    "\u00a0",
    "a" * 65,
    "\U0001f4a5" * 65,
]
#: Odd ids that are still printable: the server may take them (or refuse them cleanly).
ODD_IDS = [
    "\uff21\uff23\uff23\uff11",  # fullwidth "ACC1"
    "acc1",
    "ACC2",
    "'; DROP TABLE orders; --",
    "%s%s%n",
    "../../etc/passwd",
    "\\",
    "\U0001f4a5" * 16,
    "a" * 64,
    "null",
    "0",
    "-1",
    "ΑΒΓ",
    "\u05d0\u05d1",
]
#: Decimal strings no price, quantity or amount may be: not ASCII digits, exponents,
#: NaN and infinity, padding and control characters, overlong, zero or negative.
BAD_DECIMALS = [
    "",
    "0",
    "-0",
    "0.0",
    "+0",
    "-1",
    "-0.01",
    "1e5",
    "1E5",
    "1e-2",
    "NaN",
    "nan",
    "-NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "inf",
    "1" * 40,
    "1" * 33,
    " 1",
    "1 ",
    "1\n",
    "\n1",
    "\uff11\uff12",  # fullwidth "12"
    "\u0661\u0662",  # Arabic-Indic "12"
    "\U0001d7cf",  # mathematical bold "1"
    "0x10",
    "1_000",
    "1,5",
    "1.2.3",
    ".",
    "+",
    "-",
    "1/2",
    "--1",
    "+-1",
    "\x001",
]
#: Decimals with more digits than money needs (accepted only if kept exactly).
TINY_AMOUNTS = ["0." + "0" * 29 + "1", "0.0000000001", "100000000.00000000000000000001"]
#: A decimal the server may accept: plain ASCII digits, one optional point, 32 chars at most.
STRICT_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)

#: Numbers outside Side, OrderType, TimeInForce and RoutingStrategy, with room for them
#: to grow (TIME_IN_FORCE_GTD took 5).
BAD_ENUMS = [97, 998, 999, -1, 2**31 - 1, -(2**31)]
BAD_STATES = [11, 999, -1, 2**31 - 1, -(2**31)]

short_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
#: 10 KB to 240 KB (up to 60,000 characters of up to 4 bytes each).
huge_text = st.builds(
    lambda ch, n: ch * n,
    st.sampled_from(["x", "\u00e9", "\U0001f4a5", "\x00", "1", " "]),
    st.integers(10_000, 60_000),
)
odd_text = st.one_of(st.sampled_from(BAD_IDS + ODD_IDS), short_text, huge_text)
non_printable = st.one_of(
    st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Co"]),
    st.characters(categories=["Zs"], exclude_characters=" "),
)
bad_id = st.one_of(
    st.sampled_from(BAD_IDS),
    st.text(st.characters(exclude_categories=["Cs"]), min_size=65, max_size=200),
    huge_text.filter(lambda s: s != ""),
    st.builds(lambda a, c, b: a + c + b, short_text, non_printable, short_text),
    st.builds(lambda s, pad: pad + s, short_text, st.sampled_from([" ", "\t", "\n", "\u3000"])),
    st.builds(lambda s, pad: s + pad, short_text, st.sampled_from([" ", "\t", "\n", "\u3000"])),
)


def is_good_decimal(text: str) -> bool:
    """True for a decimal string the server may accept as a positive quantity or price."""
    return len(text) <= 32 and bool(STRICT_DECIMAL.fullmatch(text)) and Decimal(text) > 0


odd_decimal = st.one_of(
    st.sampled_from(BAD_DECIMALS + TINY_AMOUNTS),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(repr),
    st.text("0123456789.+-eE _", max_size=40),
    short_text,
    huge_text,
)
bad_decimal = st.one_of(
    st.sampled_from(BAD_DECIMALS),
    odd_decimal.filter(lambda s: not is_good_decimal(s)),
)
odd_enum = st.one_of(st.sampled_from([0, *BAD_ENUMS]), st.integers(-(2**31), 2**31 - 1))


def maybe(valid: st.SearchStrategy[object], hostile: st.SearchStrategy[object]) -> object:
    """Mostly valid, often hostile: so generated requests get past the first check."""
    return st.one_of(valid, valid, hostile)


def page_token_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


odd_page_token = st.one_of(
    odd_text,
    st.binary(max_size=64).map(lambda b: base64.urlsafe_b64encode(b).decode()),
    st.builds(
        lambda n, order_id: page_token_of(f"{n}:{order_id}"),
        st.one_of(st.integers(), st.sampled_from([2**63, 10**30, -(2**63) - 1, 10**4000])),
        st.one_of(st.just("o-1"), odd_text),
    ),
    st.sampled_from(["=", "====", "!!!", page_token_of("no-colon"), page_token_of(":")]),
)

# -- observing the server -------------------------------------------------------------


async def status_of(call: Awaitable[object]) -> tuple[Code, str]:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or ""
    return Code.OK, ""


async def store_fingerprint(oms: RunningOms) -> tuple[object, ...]:
    """Row counts of every table (one query) and each account's cash (another)."""
    assert oms.app is not None and oms.app.store is not None
    counts = [select(func.count()).select_from(t).scalar_subquery() for t in COUNTED_TABLES]
    a = schema.accounts.c
    async with oms.app.store.engine.connect() as conn:
        row = (await conn.execute(select(*counts))).one()
        cash = (await conn.execute(select(a.account_id, a.cash).order_by(a.account_id))).all()
    return tuple(row), tuple(tuple(c) for c in cash)


async def assert_serving(oms: RunningOms) -> None:
    assert oms.channel is not None
    health = health_pb2_grpc.HealthStub(oms.channel)
    for service in ("", "oms.v1.OrderService", "oms.v1.AccountService"):
        reply = await health.Check(
            health_pb2.HealthCheckRequest(service=service), timeout=CALL_TIMEOUT_S
        )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, service


async def definite(
    oms: RunningOms,
    method: Callable[..., Awaitable[object]],
    request: Message,
    metadata: tuple[tuple[str, str], ...] = TRADER,
) -> tuple[Code, str]:
    """Make one well-formed call; check it ends definitely, and changes nothing if refused."""
    before = await store_fingerprint(oms)
    code, details = await status_of(method(request, metadata=metadata, timeout=CALL_TIMEOUT_S))
    assert code is Code.OK or code in REFUSALS, f"{code.name} {details!r} for {brief(request)}"
    if code is not Code.OK:
        assert await store_fingerprint(oms) == before, f"refused {brief(request)} changed the store"
    await assert_serving(oms)
    return code, details


def brief(value: object, limit: int = 300) -> str:
    """A repr short enough for an assertion message (values may be 240 KB long)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def accounts_stub(oms: RunningOms) -> account_service_pb2_grpc.AccountServiceStub:
    assert oms.channel is not None
    return account_service_pb2_grpc.AccountServiceStub(oms.channel)


_unique = itertools.count()


async def working_order(oms: RunningOms) -> str:
    """A fresh resting (NEW) order of ACC1."""
    reply = await oms.orders.SubmitOrder(
        limit_buy(f"work-{next(_unique)}", quantity="10", limit_price="189.00"),
        metadata=TRADER,
        timeout=CALL_TIMEOUT_S,
    )
    return str(reply.order.order_id)


WORKING = "<a working order>"

# -- every field odd at once: always a definite answer ---------------------------------

submit_requests = st.builds(
    pb.SubmitOrderRequest,
    account_id=maybe(st.just("ACC1"), odd_text),
    client_order_id=maybe(st.sampled_from(["h-1", "h-2", "h-3"]), odd_text),
    symbol=maybe(st.sampled_from(sorted(INSTRUMENTS)), odd_text),
    side=maybe(st.sampled_from([1, 2]), odd_enum),
    order_type=maybe(st.sampled_from([1, 2, 3, 4]), odd_enum),
    time_in_force=maybe(st.sampled_from([1, 2, 3, 4]), odd_enum),
    quantity=maybe(st.sampled_from(["1", "10", "100"]), odd_decimal),
    limit_price=maybe(st.sampled_from(["", "189.00", "190.01"]), odd_decimal),
    stop_price=maybe(st.just(""), odd_decimal),
    routing_strategy=maybe(st.sampled_from([0, 1, 2, 3]), odd_enum),
    venue=maybe(st.sampled_from(["", "ALPHA"]), odd_text),
)


@HOSTILE
@given(request=submit_requests)
async def test_submit_order_with_odd_fields_gets_a_definite_answer(
    oms_sqlite: RunningOms, request: pb.SubmitOrderRequest
) -> None:
    await definite(oms_sqlite, oms_sqlite.orders.SubmitOrder, request)


@HOSTILE
@given(
    action=st.sampled_from(["cancel", "replace"]),
    order_id=maybe(st.just(WORKING), odd_text),
    quantity=maybe(st.sampled_from(["", "5", "20"]), odd_decimal),
    limit_price=maybe(st.sampled_from(["", "188.50"]), odd_decimal),
    client_order_id=maybe(st.sampled_from(["", "r-1"]), odd_text),
)
async def test_cancel_and_replace_with_odd_fields_get_a_definite_answer(
    oms_sqlite: RunningOms,
    action: str,
    order_id: str,
    quantity: str,
    limit_price: str,
    client_order_id: str,
) -> None:
    if order_id == WORKING:
        order_id = await working_order(oms_sqlite)
    orders = oms_sqlite.orders
    if action == "cancel":
        request: Message = pb.CancelOrderRequest(order_id=order_id)
        method = orders.CancelOrder
    else:
        request = pb.ReplaceOrderRequest(
            order_id=order_id,
            quantity=quantity,
            limit_price=limit_price,
            client_order_id=client_order_id,
        )
        method = orders.ReplaceOrder
    await definite(oms_sqlite, method, request)


@HOSTILE
@given(
    request=st.builds(
        pb.ListOrdersRequest,
        account_id=maybe(st.just("ACC1"), odd_text),
        page_size=st.one_of(
            st.sampled_from([0, 1, 1000, 1001, -1, 2**31 - 1, -(2**31)]),
            st.integers(-(2**31), 2**31 - 1),
        ),
        page_token=maybe(st.just(""), odd_page_token),
        states=st.lists(maybe(st.integers(1, 10), odd_enum), max_size=5),
        symbol=maybe(st.sampled_from(["", "AAPL"]), odd_text),
    )
)
async def test_list_orders_with_odd_paging_and_filters_gets_a_definite_answer(
    oms_sqlite: RunningOms, request: pb.ListOrdersRequest
) -> None:
    await definite(oms_sqlite, oms_sqlite.orders.ListOrders, request)


@HOSTILE
@given(
    action=st.sampled_from(["get", "deposit"]),
    account_id=maybe(st.sampled_from(["ACC1", "ACC2", "NOPE"]), odd_text),
    amount=maybe(st.sampled_from(["1", "0.01", "250.5"]), odd_decimal),
)
async def test_get_account_and_deposit_with_odd_fields_get_a_definite_answer(
    oms_sqlite: RunningOms, action: str, account_id: str, amount: str
) -> None:
    accounts = accounts_stub(oms_sqlite)
    if action == "get":
        request: Message = apb.GetAccountRequest(account_id=account_id)
        await definite(oms_sqlite, accounts.GetAccount, request)
        return
    deposit = apb.DepositRequest(account_id=account_id, amount=amount)
    code, _ = await definite(oms_sqlite, accounts.Deposit, deposit, metadata=ADMIN)
    if code is Code.OK:  # taken: then exactly (money is exact, invariant 6)
        assert is_good_decimal(amount), f"deposit of {amount!r} accepted"


# -- one bad field, every other one valid: INVALID_ARGUMENT naming that field ----------


def valid_submit(**overrides: object) -> pb.SubmitOrderRequest:
    fields: dict[str, object] = {"client_order_id": f"one-{next(_unique)}", "limit_price": "189.00"}
    return limit_buy(**{**fields, **overrides})  # type: ignore[arg-type]


ONE_BAD_SUBMIT_FIELD = st.one_of(
    st.tuples(st.just("account_id"), bad_id),
    st.tuples(st.just("client_order_id"), bad_id),
    st.tuples(st.just("symbol"), odd_text.filter(lambda s: s not in INSTRUMENTS)),
    st.tuples(st.just("side"), st.sampled_from([0, *BAD_ENUMS, 3])),
    st.tuples(st.just("order_type"), st.sampled_from([0, *BAD_ENUMS])),
    st.tuples(st.just("time_in_force"), st.sampled_from([0, *BAD_ENUMS])),
    st.tuples(st.just("routing_strategy"), st.sampled_from([*BAD_ENUMS, 4])),
    st.tuples(st.just("quantity"), bad_decimal),
    st.tuples(st.just("limit_price"), bad_decimal),
    st.tuples(st.just("stop_price"), odd_decimal.filter(lambda s: s != "")),
    st.tuples(st.just("venue"), bad_id.filter(lambda s: s != "")),
)


@settings(HOSTILE, max_examples=150)
@given(bad=ONE_BAD_SUBMIT_FIELD)
async def test_a_submit_with_one_bad_field_is_refused_naming_it(
    oms_sqlite: RunningOms, bad: tuple[str, object]
) -> None:
    field, value = bad
    request = valid_submit(**{field: value})
    before = await store_fingerprint(oms_sqlite)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await oms_sqlite.orders.SubmitOrder(request, metadata=TRADER, timeout=CALL_TIMEOUT_S)
    assert refused.value.code() is Code.INVALID_ARGUMENT, (field, brief(value))
    assert field_violations(refused.value) == [field]
    assert await store_fingerprint(oms_sqlite) == before
    await assert_serving(oms_sqlite)


ONE_BAD_OTHER_FIELD = st.one_of(
    st.tuples(st.just("ReplaceOrder.order_id"), bad_id),
    st.tuples(st.just("ReplaceOrder.quantity"), bad_decimal.filter(lambda s: s != "")),
    st.tuples(st.just("ReplaceOrder.limit_price"), bad_decimal.filter(lambda s: s != "")),
    st.tuples(st.just("ReplaceOrder.client_order_id"), bad_id.filter(lambda s: s != "")),
    st.tuples(st.just("CancelOrder.order_id"), bad_id),
    st.tuples(st.just("GetOrder.order_id"), bad_id),
    st.tuples(st.just("ListOrders.account_id"), bad_id),
    st.tuples(st.just("ListOrders.page_size"), st.integers(-(2**31), -1)),
    st.tuples(
        st.just("ListOrders.page_token"),
        st.one_of(
            st.sampled_from(["!!!", "=", page_token_of("no-colon"), page_token_of("x:o-1")]),
            st.builds(lambda s: page_token_of(f"1:{s}"), bad_id),
        ),
    ),
    st.tuples(st.just("ListOrders.states"), st.sampled_from([0, *BAD_STATES])),
    st.tuples(st.just("GetAccount.account_id"), bad_id),
    st.tuples(st.just("Deposit.account_id"), bad_id),
    st.tuples(st.just("Deposit.amount"), bad_decimal),
)


@settings(HOSTILE, max_examples=150)
@given(bad=ONE_BAD_OTHER_FIELD)
async def test_other_requests_with_one_bad_field_are_refused_naming_it(
    oms_sqlite: RunningOms, bad: tuple[str, object]
) -> None:
    where, value = bad
    method_name, field = where.split(".")
    orders, accounts = oms_sqlite.orders, accounts_stub(oms_sqlite)
    valid: dict[str, tuple[Callable[..., Awaitable[object]], type[Message], dict[str, object]]]
    valid = {
        "ReplaceOrder": (orders.ReplaceOrder, pb.ReplaceOrderRequest, {"quantity": "20"}),
        "CancelOrder": (orders.CancelOrder, pb.CancelOrderRequest, {}),
        "GetOrder": (orders.GetOrder, pb.GetOrderRequest, {}),
        "ListOrders": (orders.ListOrders, pb.ListOrdersRequest, {"account_id": "ACC1"}),
        "GetAccount": (accounts.GetAccount, apb.GetAccountRequest, {"account_id": "ACC1"}),
        "Deposit": (accounts.Deposit, apb.DepositRequest, {"account_id": "ACC1", "amount": "1"}),
    }
    method, message_type, fields = valid[method_name]
    if "order_id" in message_type.DESCRIPTOR.fields_by_name:
        fields = {**fields, "order_id": await working_order(oms_sqlite)}
    fields = {**fields, field: [value] if field == "states" else value}
    request = message_type(**fields)
    metadata = ADMIN if method_name == "Deposit" else TRADER
    before = await store_fingerprint(oms_sqlite)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await method(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
    assert refused.value.code() is Code.INVALID_ARGUMENT, (where, brief(value))
    assert field_violations(refused.value) == [field]
    assert await store_fingerprint(oms_sqlite) == before
    await assert_serving(oms_sqlite)


# -- the bad values found so far, one by one ---------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["\uff11\uff12", "\u0661\u0662", "\U0001d7cf", "1\n", "100\n"],
    ids=["fullwidth", "arabic-indic", "math-bold", "trailing-newline", "100-newline"],
)
async def test_decimals_take_only_ascii_digits(oms_sqlite: RunningOms, text: str) -> None:
    """A quantity that is not plain ASCII is refused, not read as a number."""
    before = await store_fingerprint(oms_sqlite)
    code, details = await status_of(
        oms_sqlite.orders.SubmitOrder(
            valid_submit(quantity=text), metadata=TRADER, timeout=CALL_TIMEOUT_S
        )
    )
    assert code is Code.INVALID_ARGUMENT, f"quantity {text!r} got {code.name} {details!r}"
    assert await store_fingerprint(oms_sqlite) == before


@pytest.mark.parametrize("amount", TINY_AMOUNTS)
async def test_a_deposit_is_kept_exactly_or_refused(oms_sqlite: RunningOms, amount: str) -> None:
    """Money is exact: a deposit the server takes shows up in the balance to the last digit."""
    accounts = accounts_stub(oms_sqlite)
    get = apb.GetAccountRequest(account_id="ACC1")
    before = Decimal((await accounts.GetAccount(get, metadata=TRADER)).account.cash)
    code, _ = await status_of(
        accounts.Deposit(apb.DepositRequest(account_id="ACC1", amount=amount), metadata=ADMIN)
    )
    after = Decimal((await accounts.GetAccount(get, metadata=TRADER)).account.cash)
    with localcontext() as exact:
        exact.prec = 100
        expected = before + Decimal(amount)
    if code is Code.OK:
        assert after == expected, f"deposited {amount}: cash {before} -> {after}"
    else:
        assert code is Code.INVALID_ARGUMENT and after == before


@pytest.mark.parametrize("created", [2**63, 10**30, -(2**63) - 1])
async def test_a_page_token_with_an_out_of_range_time_is_refused(
    oms_sqlite: RunningOms, created: int
) -> None:
    request = pb.ListOrdersRequest(account_id="ACC1", page_token=page_token_of(f"{created}:o-1"))
    code, details = await status_of(
        oms_sqlite.orders.ListOrders(request, metadata=TRADER, timeout=CALL_TIMEOUT_S)
    )
    assert code is Code.INVALID_ARGUMENT, f"{code.name} {details!r}"


# -- raw bytes on the method paths ------------------------------------------------------

UNARY_METHODS: dict[str, type[Message]] = {
    "/oms.v1.OrderService/SubmitOrder": pb.SubmitOrderRequest,
    "/oms.v1.OrderService/CancelOrder": pb.CancelOrderRequest,
    "/oms.v1.OrderService/ReplaceOrder": pb.ReplaceOrderRequest,
    "/oms.v1.OrderService/GetOrder": pb.GetOrderRequest,
    "/oms.v1.OrderService/ListOrders": pb.ListOrdersRequest,
    "/oms.v1.OrderService/GetOrderEvents": pb.GetOrderEventsRequest,
    "/oms.v1.AccountService/GetAccount": apb.GetAccountRequest,
    "/oms.v1.AccountService/Deposit": apb.DepositRequest,
    "/oms.v1.AccountService/CreateAccount": apb.CreateAccountRequest,
}
STREAM_METHOD = "/oms.v1.OrderService/StreamExecutionReports"
ALL_METHODS = {**UNARY_METHODS, STREAM_METHOD: pb.StreamExecutionReportsRequest}


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def wire_field(number: int, wire_type: int, payload: bytes | int) -> bytes:
    """One protobuf field, of any wire type, whatever type the schema says it has."""
    key = varint((number << 3) | wire_type)
    if isinstance(payload, bytes):
        data, value = payload, int.from_bytes(payload[:8], "little")
    else:
        data, value = varint(payload), payload
    if wire_type == 0:
        return key + varint(value)
    if wire_type == 2:
        return key + varint(len(data)) + data
    width = 8 if wire_type == 1 else 4
    return key + (value % (1 << (8 * width))).to_bytes(width, "little")


wire_messages = st.lists(
    st.builds(
        wire_field,
        st.integers(1, 14),
        st.sampled_from([0, 1, 2, 5]),
        st.one_of(
            st.integers(-(2**63), 2**64 - 1),
            st.binary(max_size=40),
            st.sampled_from([b"\xff\xfe", b"ACC1", b"\xc0\x80", "\U0001f4a5".encode()]),
        ),
    ),
    max_size=8,
).map(b"".join)
raw_bytes = st.one_of(
    st.binary(max_size=200),
    wire_messages,
    st.sampled_from([b"\xff\xff\xff", b"\x0a\x02\xff\xfe", b"\x0a\x80", b"\x0a\x05AC", b"\x80"]),
)


def decodes_as(message_type: type[Message], data: bytes) -> bool:
    try:
        message_type.FromString(data)
    except DecodeError:
        return False
    return True


async def raw_call(oms: RunningOms, path: str, data: bytes, metadata: tuple) -> tuple[Code, str]:
    """Send ``data`` as the request of ``path`` without any serializer."""
    assert oms.channel is not None
    if path == STREAM_METHOD:
        call = oms.channel.unary_stream(path)(data, metadata=metadata, timeout=1.0)

        async def first_message() -> None:
            async for _ in call:  # type: ignore[attr-defined]
                call.cancel()  # type: ignore[attr-defined]
                return

        code, details = await status_of(first_message())
        # A valid stream request has no end: it is cut by us or by its deadline.
        return (
            (Code.OK, "")
            if code in (Code.CANCELLED, Code.DEADLINE_EXCEEDED)
            else (
                code,
                details,
            )
        )
    return await status_of(oms.channel.unary_unary(path)(data, metadata=metadata, timeout=5.0))


@settings(HOSTILE, max_examples=150)
@given(path=st.sampled_from(sorted(UNARY_METHODS)), data=raw_bytes, admin=st.booleans())
async def test_raw_bytes_on_a_method_path_get_a_definite_answer(
    oms_sqlite: RunningOms, path: str, data: bytes, admin: bool
) -> None:
    message_type = UNARY_METHODS[path]
    before = await store_fingerprint(oms_sqlite)
    code, details = await raw_call(oms_sqlite, path, data, ADMIN if admin else TRADER)
    if decodes_as(message_type, data):
        assert code is Code.OK or code in REFUSALS, f"{code.name} {details!r} for {data!r}"
    else:
        assert code is Code.INVALID_ARGUMENT, f"undecodable {data!r}: {code.name} {details!r}"
    if code is not Code.OK:
        assert await store_fingerprint(oms_sqlite) == before
    await assert_serving(oms_sqlite)


@pytest.mark.parametrize("path", sorted(ALL_METHODS))
@pytest.mark.parametrize("data", [b"\xff\xff\xff", b"\x0a\x02\xff\xfe"], ids=["corrupt", "utf8"])
async def test_undecodable_bytes_are_invalid_argument_on_every_method(
    oms_sqlite: RunningOms, path: str, data: bytes
) -> None:
    for metadata in (TRADER, ()):  # also before authentication
        code, details = await raw_call(oms_sqlite, path, data, metadata)
        assert code is Code.INVALID_ARGUMENT, f"{path} {metadata!r}: {code.name} {details!r}"
    await assert_serving(oms_sqlite)


# -- oversized messages -----------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(ALL_METHODS))
async def test_a_message_over_the_limit_is_resource_exhausted(
    oms_sqlite: RunningOms, path: str
) -> None:
    message_type = ALL_METHODS[path]
    first_string = next(f for f in message_type.DESCRIPTOR.fields if f.type == f.TYPE_STRING)
    oversized = message_type(**{first_string.name: "x" * (MAX_MESSAGE_BYTES + 1)})
    data = oversized.SerializeToString()
    assert len(data) > MAX_MESSAGE_BYTES
    before = await store_fingerprint(oms_sqlite)
    code, details = await raw_call(oms_sqlite, path, data, ADMIN)
    assert code is Code.RESOURCE_EXHAUSTED, f"{code.name} {details!r}"
    assert await store_fingerprint(oms_sqlite) == before
    await assert_serving(oms_sqlite)


async def test_a_message_just_under_the_limit_is_refused_by_field(oms_sqlite: RunningOms) -> None:
    request = valid_submit(client_order_id="x")
    request.client_order_id = "x" * (MAX_MESSAGE_BYTES - request.ByteSize() - 8)
    assert MAX_MESSAGE_BYTES - 16 < request.ByteSize() <= MAX_MESSAGE_BYTES
    before = await store_fingerprint(oms_sqlite)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await oms_sqlite.orders.SubmitOrder(request, metadata=TRADER, timeout=CALL_TIMEOUT_S)
    assert refused.value.code() is Code.INVALID_ARGUMENT
    assert field_violations(refused.value) == ["client_order_id"]
    assert await store_fingerprint(oms_sqlite) == before


async def test_many_oversized_calls_at_once_leave_the_server_serving(
    oms_sqlite: RunningOms,
) -> None:
    """A burst of 2 MiB requests: each refused, and the next ordinary order still works."""
    huge = valid_submit(client_order_id="y" * (2 * MAX_MESSAGE_BYTES))
    codes = await asyncio.gather(
        *(
            status_of(oms_sqlite.orders.SubmitOrder(huge, metadata=TRADER, timeout=CALL_TIMEOUT_S))
            for _ in range(20)
        )
    )
    assert {code for code, _ in codes} == {Code.RESOURCE_EXHAUSTED}
    await assert_serving(oms_sqlite)
    reply = await oms_sqlite.orders.SubmitOrder(
        valid_submit(), metadata=TRADER, timeout=CALL_TIMEOUT_S
    )
    assert reply.order.state == common_pb2.ORDER_STATE_NEW

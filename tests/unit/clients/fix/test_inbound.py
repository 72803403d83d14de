"""Order messages read into requests; a bad field is named with what is wrong with it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from clients.fix.inbound import (
    BadField,
    CancelRequest,
    MassCancelRequest,
    NewOrder,
    Problem,
    ReplaceRequest,
    Request,
    read_request,
)
from protos.oms.v1 import common_pb2 as c

ORDER = {11: "c1", 55: "AAPL", 54: "1", 38: "100", 40: "2", 44: "190.5", 59: "1", 1: "ACC1"}


def read(msg_type: str, fields: dict[int, str], poss_dup: bool = False) -> Request:
    return read_request(msg_type, fields.get, poss_dup)


def test_a_new_order_single_becomes_a_submit() -> None:
    order = read("D", ORDER | {100: "BRAVO"}, poss_dup=True)
    assert isinstance(order, NewOrder)
    assert (order.proto_side, order.proto_order_type, order.proto_time_in_force) == (
        c.SIDE_BUY,
        c.ORDER_TYPE_LIMIT,
        c.TIME_IN_FORCE_GTC,
    )
    assert (order.quantity, order.price, order.venue, order.poss_dup) == (
        "100",
        "190.5",
        "BRAVO",
        True,
    )


def test_time_in_force_defaults_to_day_and_gtd_needs_expire_time() -> None:
    without = {k: v for k, v in ORDER.items() if k != 59}
    assert read("D", without).time_in_force == "0"
    with pytest.raises(BadField) as missing:
        read("D", ORDER | {59: "6"})
    assert (missing.value.tag, missing.value.problem) == (126, Problem.MISSING)
    gtd = read("D", ORDER | {59: "6", 126: "20301231-15:30:00.250"})
    assert gtd.expire_time == datetime(2030, 12, 31, 15, 30, 0, 250_000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "tag", "problem"),
    [
        ({11: ""}, 11, Problem.MISSING),
        ({55: ""}, 55, Problem.MISSING),
        ({54: "7"}, 54, Problem.VALUE),
        ({40: "K"}, 40, Problem.VALUE),  # market with leftover as limit: not taken
        ({59: "2"}, 59, Problem.VALUE),
        ({38: "1e3"}, 38, Problem.FORMAT),
        ({44: ""}, 44, Problem.MISSING),
        ({40: "4", 99: ""}, 99, Problem.MISSING),
        ({59: "6", 126: "tomorrow"}, 126, Problem.FORMAT),
    ],
)
def test_a_bad_field_is_named(change: dict[int, str], tag: int, problem: Problem) -> None:
    with pytest.raises(BadField) as bad:
        read("D", ORDER | change)
    assert (bad.value.tag, bad.value.problem) == (tag, problem)


def test_cancel_and_replace_name_the_order_by_orig_cl_ord_id() -> None:
    cancel = read("F", {11: "x1", 41: "c1", 37: "o1"})
    assert isinstance(cancel, CancelRequest)
    assert (cancel.ref.cl_ord_id, cancel.ref.orig_cl_ord_id, cancel.ref.order_id) == (
        "x1",
        "c1",
        "o1",
    )
    with pytest.raises(BadField, match="tag 41"):
        read("F", {11: "x1"})
    replace = read("G", {11: "c2", 41: "c1", 44: "191"})
    assert isinstance(replace, ReplaceRequest)
    assert (replace.quantity, replace.price) == ("", "191")
    with pytest.raises(BadField, match="tag 38"):
        read("G", {11: "c2", 41: "c1"})


def test_mass_cancel_of_one_symbol_needs_the_symbol() -> None:
    request = read("q", {11: "m1", 530: "1", 55: "AAPL", 54: "2"})
    assert isinstance(request, MassCancelRequest)
    assert (request.symbol, request.side) == ("AAPL", "2")
    with pytest.raises(BadField, match="tag 55"):
        read("q", {11: "m1", 530: "1"})


def test_a_market_if_touched_order_needs_its_stop_px() -> None:
    order = read("D", ORDER | {40: "J", 99: "189.5"})
    assert isinstance(order, NewOrder)
    assert (order.proto_order_type, order.stop_px) == (c.ORDER_TYPE_MARKET_IF_TOUCHED, "189.5")
    with pytest.raises(BadField) as missing:
        read("D", ORDER | {40: "J"})
    assert (missing.value.tag, missing.value.problem) == (99, Problem.MISSING)


def test_max_floor_is_the_display_quantity_of_an_iceberg() -> None:
    order = read("D", ORDER | {111: "100"})
    assert isinstance(order, NewOrder) and order.max_floor == "100"
    assert read("D", ORDER).max_floor == ""
    with pytest.raises(BadField) as bad:
        read("D", ORDER | {111: "lots"})
    assert (bad.value.tag, bad.value.problem) == (111, Problem.FORMAT)


@pytest.mark.parametrize(
    ("exec_inst", "peg_type"),
    [("R", c.PEG_TYPE_PRIMARY), ("M", c.PEG_TYPE_MIDPOINT), ("P", c.PEG_TYPE_MARKET)],
)
def test_ord_type_p_is_pegged_by_exec_inst_with_an_optional_cap(
    exec_inst: str, peg_type: int
) -> None:
    order = read("D", ORDER | {40: "P", 18: f"G {exec_inst}"})
    assert isinstance(order, NewOrder)
    assert (order.proto_order_type, order.peg_type) == (c.ORDER_TYPE_PEGGED, peg_type)
    assert (order.price, order.peg_offset) == ("190.5", "")
    uncapped = read("D", {k: v for k, v in ORDER.items() if k != 44} | {40: "P", 18: exec_inst})
    assert isinstance(uncapped, NewOrder) and uncapped.price == ""


def test_peg_offset_value_is_signed_and_becomes_a_passive_distance() -> None:
    buy = read("D", ORDER | {40: "P", 18: "R", 211: "-0.02"})
    sell = read("D", ORDER | {40: "P", 18: "R", 211: "0.02", 54: "2"})
    aggressive_buy = read("D", ORDER | {40: "P", 18: "R", 211: "0.02"})
    zero = read("D", ORDER | {40: "P", 18: "R", 211: "0"})
    offsets = [o.peg_offset for o in (buy, sell, aggressive_buy, zero) if isinstance(o, NewOrder)]
    assert offsets == ["0.02", "0.02", "-0.02", "0"]  # the OMS refuses the negative one


@pytest.mark.parametrize("exec_inst", [None, "G", "R M"])
def test_a_pegged_order_needs_exactly_one_peg_in_exec_inst(exec_inst: str | None) -> None:
    fields = ORDER | {40: "P"} | ({18: exec_inst} if exec_inst is not None else {})
    with pytest.raises(BadField) as bad:
        read("D", fields)
    problem = Problem.MISSING if exec_inst is None else Problem.VALUE
    assert (bad.value.tag, bad.value.problem) == (18, problem)

"""Conversions between domain objects and table rows."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from oms_server.domain.child import ChildOrder, ChildPurpose, ChildState, Liquidity
from oms_server.domain.decimals import ZERO
from oms_server.domain.enums import (
    ExecType,
    OrderState,
    OrderType,
    PegType,
    RoutingStrategy,
    Side,
    TimeInForce,
)
from oms_server.domain.executions import Execution
from oms_server.domain.order import Order
from oms_server.domain.reports import ExecutionReport
from oms_server.engine.ports import AppliedReport


def order_to_row(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "account_id": order.account_id,
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "order_type": order.order_type.value,
        "time_in_force": order.time_in_force.value,
        "quantity": order.quantity,
        "limit_price": order.limit_price,
        "stop_price": order.stop_price,
        "routing_strategy": order.routing_strategy.value,
        "venue": order.venue,
        "state": order.state.value,
        "cum_qty": order.cum_qty,
        "cum_notional": order.cum_notional,
        "text": order.text,
        "sender": order.sender,
        "replaces_order_id": order.replaces_order_id,
        "replaced_by_order_id": order.replaced_by_order_id,
        "list_id": order.list_id,
        "list_role": order.list_role,
        "created_ns": order.created_ns,
        "updated_ns": order.updated_ns,
        "version": order.version,
        "fees": order.fees,
        "arrival_price": order.arrival_price,
        "single_venue_price": order.single_venue_price,
        "reroutes": order.reroutes,
        "reserve_price": order.reserve_price,
        "expire_ns": order.expire_ns,
        "trailing_offset": order.trailing_offset,
        "trigger_price": order.trigger_price,
        "display_quantity": order.display_quantity,
        "peg_type": order.peg_type.value if order.peg_type is not None else None,
        "peg_offset": order.peg_offset,
    }


def row_to_order(row: Mapping[str, Any]) -> Order:
    return Order(
        order_id=row["order_id"],
        account_id=row["account_id"],
        client_order_id=row["client_order_id"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        order_type=OrderType(row["order_type"]),
        time_in_force=TimeInForce(row["time_in_force"]),
        quantity=row["quantity"],
        limit_price=row["limit_price"],
        stop_price=row["stop_price"],
        routing_strategy=RoutingStrategy(row["routing_strategy"]),
        venue=row["venue"],
        state=OrderState(row["state"]),
        cum_qty=row["cum_qty"] or ZERO,
        cum_notional=row["cum_notional"] or ZERO,
        text=row["text"],
        sender=row["sender"],
        replaces_order_id=row["replaces_order_id"],
        replaced_by_order_id=row["replaced_by_order_id"],
        list_id=row["list_id"] or "",
        list_role=row["list_role"] or "",
        created_ns=row["created_ns"],
        updated_ns=row["updated_ns"],
        version=row["version"],
        fees=row["fees"] or ZERO,
        arrival_price=row["arrival_price"],
        single_venue_price=row["single_venue_price"],
        reroutes=row["reroutes"],
        reserve_price=row["reserve_price"],
        expire_ns=row["expire_ns"],
        trailing_offset=row["trailing_offset"],
        trigger_price=row["trigger_price"],
        display_quantity=row["display_quantity"],
        peg_type=PegType(row["peg_type"]) if row["peg_type"] else None,
        peg_offset=row["peg_offset"],
    )


def report_to_row(report: ExecutionReport) -> dict[str, Any]:
    return {
        "account_id": report.account_id,
        "sequence": report.sequence,
        "exec_id": report.exec_id,
        "order_id": report.order_id,
        "client_order_id": report.client_order_id,
        "symbol": report.symbol,
        "side": report.side.value,
        "exec_type": report.exec_type.value,
        "order_state": report.order_state.value,
        "last_qty": report.last_qty,
        "last_price": report.last_price,
        "last_venue": report.last_venue,
        "cum_qty": report.cum_qty,
        "leaves_qty": report.leaves_qty,
        "avg_price": report.avg_price,
        "text": report.text,
        "transact_ns": report.transact_ns,
    }


def row_to_report(row: Mapping[str, Any]) -> ExecutionReport:
    return ExecutionReport(
        account_id=row["account_id"],
        sequence=row["sequence"],
        exec_id=row["exec_id"],
        order_id=row["order_id"],
        client_order_id=row["client_order_id"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        exec_type=ExecType(row["exec_type"]),
        order_state=OrderState(row["order_state"]),
        last_qty=_dec(row["last_qty"]),
        last_price=_dec(row["last_price"]),
        last_venue=row["last_venue"],
        cum_qty=_dec(row["cum_qty"]),
        leaves_qty=_dec(row["leaves_qty"]),
        avg_price=_dec(row["avg_price"]),
        text=row["text"],
        transact_ns=row["transact_ns"],
    )


def child_to_row(child: ChildOrder) -> dict[str, Any]:
    return {
        "child_order_id": child.child_order_id,
        "parent_order_id": child.parent_order_id,
        "account_id": child.account_id,
        "venue": child.venue,
        "symbol": child.symbol,
        "side": child.side.value,
        "order_type": child.order_type.value,
        "time_in_force": child.time_in_force.value,
        "quantity": child.quantity,
        "limit_price": child.limit_price,
        "state": child.state.value,
        "cum_qty": child.cum_qty,
        "cum_notional": child.cum_notional,
        "fees": child.fees,
        "purpose": child.purpose.value,
        "venue_cum_qty": child.venue_cum_qty,
        "venue_done": int(child.venue_done),
        "cancel_requested": int(child.cancel_requested),
        "resends": child.resends,
        "text": child.text,
        "created_ns": child.created_ns,
        "updated_ns": child.updated_ns,
        "sent_ns": child.sent_ns,
        "display_quantity": child.display_quantity,
        "peg_type": child.peg_type.value if child.peg_type is not None else None,
        "peg_offset": child.peg_offset,
    }


def row_to_child(row: Mapping[str, Any], exec_ids: set[str]) -> ChildOrder:
    return ChildOrder(
        child_order_id=row["child_order_id"],
        parent_order_id=row["parent_order_id"],
        account_id=row["account_id"],
        venue=row["venue"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        order_type=OrderType(row["order_type"]),
        time_in_force=TimeInForce(row["time_in_force"]),
        quantity=row["quantity"],
        limit_price=row["limit_price"],
        purpose=ChildPurpose(row["purpose"]),
        state=ChildState(row["state"]),
        cum_qty=_dec(row["cum_qty"]),
        cum_notional=_dec(row["cum_notional"]),
        fees=_dec(row["fees"]),
        venue_cum_qty=_dec(row["venue_cum_qty"]),
        venue_done=bool(row["venue_done"]),
        cancel_requested=bool(row["cancel_requested"]),
        resends=row["resends"],
        text=row["text"],
        created_ns=row["created_ns"],
        updated_ns=row["updated_ns"],
        sent_ns=row["sent_ns"],
        exec_ids=exec_ids,
        display_quantity=row["display_quantity"],
        peg_type=PegType(row["peg_type"]) if row["peg_type"] else None,
        peg_offset=row["peg_offset"],
    )


def execution_to_row(applied: AppliedReport) -> dict[str, Any]:
    report = applied.report
    return {
        "venue": report.venue,
        "exec_id": report.exec_id,
        "child_order_id": report.child_order_id,
        "parent_order_id": applied.parent_order_id,
        "exec_type": report.exec_type.value,
        "last_qty": report.last_qty,
        "last_price": report.last_price,
        "fee": report.fee,
        "liquidity": report.liquidity.value,
        "transact_ns": report.transact_ns,
        "fill_exec_id": applied.fill_exec_id,
    }


def row_to_execution(row: Mapping[str, Any]) -> Execution:
    """A fill from an executions row joined with its TRADE event (``event_*`` columns)."""
    return Execution(
        exec_id=row["fill_exec_id"],
        sequence=row["event_sequence"],
        account_id=row["event_account_id"],
        order_id=row["event_order_id"],
        client_order_id=row["event_client_order_id"],
        symbol=row["event_symbol"],
        side=Side(row["event_side"]),
        venue=row["venue"],
        venue_exec_id=row["exec_id"],
        last_qty=_dec(row["last_qty"]),
        last_price=_dec(row["last_price"]),
        fee=_dec(row["fee"]),
        liquidity=Liquidity(row["liquidity"]),
        transact_ns=row["transact_ns"],
    )


def _dec(value: Decimal | None) -> Decimal:
    return ZERO if value is None else value

"""The store's side of a commit: an engine change set encoded as table rows.

The engine hands the store domain values (``ChangeSet``); every table codec lives in
the store. Encoding happens when the batch is sealed, before later commands change
the same objects, so a commit writes each object as the batch left it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from typing import Any

from oms_server.domain.accounts import Account, Position, RiskLimits
from oms_server.domain.decimals import ZERO
from oms_server.engine.ports import ChangeSet, Halt
from oms_server.store.journal import JournalBatch
from oms_server.store.rows import child_to_row, execution_to_row, order_to_row, report_to_row


def encode_changes(changes: ChangeSet) -> JournalBatch:
    """The rows ``changes`` writes, in one batch."""
    batch = JournalBatch()
    for order, is_new in changes.orders.values():
        batch.upsert("orders", order.order_id, order_to_row(order), is_new=is_new)
    for child, is_new in changes.children.values():
        batch.upsert("child_orders", child.child_order_id, child_to_row(child), is_new=is_new)
    for report in changes.events:
        batch.append("order_events", report_to_row(report))
    for applied in changes.executions:
        batch.append("executions", execution_to_row(applied))
    for account, is_new, updated_ns in changes.accounts.values():
        batch.upsert(
            "accounts", account.account_id, account_to_row(account, updated_ns), is_new=is_new
        )
    for (account_id, symbol), (account, is_new) in changes.positions.items():
        row = position_to_row(account_id, symbol, account.position(symbol))
        batch.upsert("positions", (account_id, symbol), row, is_new=is_new)
    for scope in changes.resumed:
        batch.delete("halts", scope)  # before the halts set again after it
    for scope, (halt, is_new) in changes.halts.items():
        batch.upsert("halts", scope, halt_to_row(halt), is_new=is_new)
    return batch


def account_to_row(account: Account, updated_ns: int) -> dict[str, Any]:
    return {
        "account_id": account.account_id,
        "cash": account.cash,
        "active": int(account.active),
        "risk_limits": _limits_json(account.limits),
        "updated_ns": updated_ns,
    }


def position_to_row(account_id: str, symbol: str, position: Position) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "symbol": symbol,
        "quantity": position.quantity,
        "cost": position.cost,
        "realized_pnl": position.realized_pnl,
    }


def halt_to_row(halt: Halt) -> dict[str, Any]:
    return {
        "scope": halt.scope,
        "reason": halt.reason,
        "halted_by": halt.halted_by,
        "halted_ns": halt.halted_ns,
    }


def rows_to_accounts(
    accounts: Iterable[Mapping[str, Any]], positions: Iterable[Mapping[str, Any]]
) -> list[Account]:
    """Accounts with their positions, from their rows."""
    by_id = {
        row["account_id"]: Account(
            account_id=row["account_id"],
            cash=row["cash"],
            active=bool(row["active"]),
            limits=RiskLimits.from_json(json.loads(row["risk_limits"] or "{}")),
        )
        for row in accounts
    }
    for row in positions:
        account = by_id.get(row["account_id"])
        if account is not None:
            account.positions[row["symbol"]] = Position(
                row["quantity"], row["cost"], row["realized_pnl"] or ZERO
            )
    return list(by_id.values())


def row_to_halt(row: Mapping[str, Any]) -> Halt:
    return Halt(row["scope"], row["reason"], row["halted_by"], row["halted_ns"])


@functools.lru_cache(maxsize=1024)
def _limits_json(limits: RiskLimits) -> str:
    """The stored form of risk limits (written with the account row on every fill)."""
    return json.dumps(limits.to_json())

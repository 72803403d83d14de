"""oms.v1.AccountService: accounts, deposits, balances and positions, risk limits."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import grpc
from google.protobuf import field_mask_pb2

from oms_server.api import mapping
from oms_server.api.auth import require_account, require_admin
from oms_server.api.errors import rpc_errors
from oms_server.domain.accounts import Account, RiskLimits, limit_names
from oms_server.domain.decimals import fmt, parse_money, parse_positive
from oms_server.domain.errors import ValidationError
from oms_server.engine.engine import OrderEngine
from protos.oms.v1 import account_service_pb2 as pb
from protos.oms.v1 import account_service_pb2_grpc

#: Most symbols an account's restricted list may hold.
MAX_RESTRICTED_SYMBOLS = 1000


class AccountService(account_service_pb2_grpc.AccountServiceServicer):
    """Admins create, fund and limit accounts; traders read their own."""

    def __init__(self, engine: OrderEngine) -> None:
        self._engine = engine

    @rpc_errors
    async def CreateAccount(
        self, request: pb.CreateAccountRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateAccountResponse:
        account_id = mapping.identifier(request.account_id, "account_id")
        require_admin()
        account = await self._engine.create_account(account_id)
        return pb.CreateAccountResponse(account=self._message(account))

    @rpc_errors
    async def Deposit(
        self, request: pb.DepositRequest, context: grpc.aio.ServicerContext
    ) -> pb.DepositResponse:
        account_id = mapping.identifier(request.account_id, "account_id")
        amount = parse_money(request.amount, "amount")
        require_admin()
        account = await self._engine.deposit(account_id, amount)
        return pb.DepositResponse(account=self._message(account))

    @rpc_errors
    async def GetAccount(
        self, request: pb.GetAccountRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAccountResponse:
        account_id = mapping.identifier(request.account_id, "account_id")
        require_account(account_id)
        return pb.GetAccountResponse(account=self._message(self._engine.account(account_id)))

    def _message(self, account: Account) -> pb.Account:
        """The account with its positions marked now and whether it is halted."""
        marks = self._engine.marks(account.positions)
        return account_message(account, marks, self._engine.halted(account.account_id))

    @rpc_errors
    async def SetRiskLimits(
        self, request: pb.SetRiskLimitsRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetRiskLimitsResponse:
        account_id = mapping.identifier(request.account_id, "account_id")
        names = limit_names(request.update_mask.paths)
        limits = risk_limits(named_fields(request.risk_limits, names))
        require_admin()
        account = await self._engine.set_risk_limits(account_id, limits, names)
        return pb.SetRiskLimitsResponse(account=self._message(account))


def risk_limits(msg: pb.RiskLimits) -> RiskLimits:
    """Limits from a request; empty fields keep the defaults."""
    defaults = RiskLimits()
    if len(msg.restricted_symbols) > MAX_RESTRICTED_SYMBOLS:
        raise ValidationError("risk_limits.restricted_symbols", "too many symbols")
    return RiskLimits(
        max_order_quantity=_positive_or(
            msg.max_order_quantity, "risk_limits.max_order_quantity", defaults.max_order_quantity
        ),
        max_order_notional=_positive_or(
            msg.max_order_notional, "risk_limits.max_order_notional", defaults.max_order_notional
        ),
        price_collar_bps=_positive_or(
            msg.price_collar_bps, "risk_limits.price_collar_bps", defaults.price_collar_bps
        ),
        restricted_symbols=frozenset(
            mapping.identifier(s, "risk_limits.restricted_symbols") for s in msg.restricted_symbols
        ),
        max_orders_per_second=msg.max_orders_per_second or defaults.max_orders_per_second,
        allow_short=msg.allow_short,
        duplicate_window_ms=msg.duplicate_window_ms,
    )


def named_fields(msg: pb.RiskLimits, names: frozenset[str]) -> pb.RiskLimits:
    """Only the fields of ``msg`` that ``names`` names (none: all of them), so a field an
    update does not change is never read, and need not be valid."""
    if not names:
        return msg
    named = pb.RiskLimits()
    field_mask_pb2.FieldMask(paths=sorted(names)).MergeMessage(msg, named)
    return named


def account_message(
    account: Account,
    marks: Mapping[str, Decimal | None] | None = None,
    halt_reason: str | None = None,
) -> pb.Account:
    """The account as oms.v1 shows it: positions (open, or with P&L realized) marked at
    ``marks`` (unrealized P&L is '' for a position with no mark), and its halt."""
    limits = account.limits
    marks = marks or {}
    return pb.Account(
        account_id=account.account_id,
        cash=fmt(account.cash),
        reserved_cash=fmt(account.reserved_cash),
        active=account.active,
        positions=[
            pb.Position(
                symbol=symbol,
                quantity=fmt(position.quantity),
                average_cost=fmt(position.average_cost),
                realized_pnl=fmt(position.realized_pnl),
                unrealized_pnl=fmt(position.unrealized_pnl(marks.get(symbol))),
            )
            for symbol, position in sorted(account.positions.items())
            if position.quantity != 0 or position.realized_pnl != 0
        ],
        halted=halt_reason is not None,
        halt_reason=halt_reason or "",
        risk_limits=pb.RiskLimits(
            max_order_quantity=fmt(limits.max_order_quantity),
            max_order_notional=fmt(limits.max_order_notional),
            price_collar_bps=fmt(limits.price_collar_bps),
            restricted_symbols=sorted(limits.restricted_symbols),
            max_orders_per_second=limits.max_orders_per_second,
            allow_short=limits.allow_short,
            duplicate_window_ms=limits.duplicate_window_ms,
        ),
    )


def _positive_or(text: str, field: str, default: Decimal) -> Decimal:
    """A positive decimal, or ``default`` when the field is left empty."""
    return default if text == "" else parse_positive(text, field)

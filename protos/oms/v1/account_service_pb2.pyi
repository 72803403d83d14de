from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Position(_message.Message):
    __slots__ = ("symbol", "quantity", "average_cost")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_COST_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    quantity: str
    average_cost: str
    def __init__(self, symbol: _Optional[str] = ..., quantity: _Optional[str] = ..., average_cost: _Optional[str] = ...) -> None: ...

class RiskLimits(_message.Message):
    __slots__ = ("max_order_quantity", "max_order_notional", "price_collar_bps", "restricted_symbols", "max_orders_per_second", "allow_short", "duplicate_window_ms")
    MAX_ORDER_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    MAX_ORDER_NOTIONAL_FIELD_NUMBER: _ClassVar[int]
    PRICE_COLLAR_BPS_FIELD_NUMBER: _ClassVar[int]
    RESTRICTED_SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    MAX_ORDERS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    ALLOW_SHORT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_WINDOW_MS_FIELD_NUMBER: _ClassVar[int]
    max_order_quantity: str
    max_order_notional: str
    price_collar_bps: str
    restricted_symbols: _containers.RepeatedScalarFieldContainer[str]
    max_orders_per_second: int
    allow_short: bool
    duplicate_window_ms: int
    def __init__(self, max_order_quantity: _Optional[str] = ..., max_order_notional: _Optional[str] = ..., price_collar_bps: _Optional[str] = ..., restricted_symbols: _Optional[_Iterable[str]] = ..., max_orders_per_second: _Optional[int] = ..., allow_short: _Optional[bool] = ..., duplicate_window_ms: _Optional[int] = ...) -> None: ...

class Account(_message.Message):
    __slots__ = ("account_id", "cash", "reserved_cash", "positions", "active", "risk_limits")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CASH_FIELD_NUMBER: _ClassVar[int]
    RESERVED_CASH_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    RISK_LIMITS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    cash: str
    reserved_cash: str
    positions: _containers.RepeatedCompositeFieldContainer[Position]
    active: bool
    risk_limits: RiskLimits
    def __init__(self, account_id: _Optional[str] = ..., cash: _Optional[str] = ..., reserved_cash: _Optional[str] = ..., positions: _Optional[_Iterable[_Union[Position, _Mapping]]] = ..., active: _Optional[bool] = ..., risk_limits: _Optional[_Union[RiskLimits, _Mapping]] = ...) -> None: ...

class CreateAccountRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class CreateAccountResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: Account
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ...) -> None: ...

class DepositRequest(_message.Message):
    __slots__ = ("account_id", "amount")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    amount: str
    def __init__(self, account_id: _Optional[str] = ..., amount: _Optional[str] = ...) -> None: ...

class DepositResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: Account
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ...) -> None: ...

class GetAccountRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class GetAccountResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: Account
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ...) -> None: ...

class SetRiskLimitsRequest(_message.Message):
    __slots__ = ("account_id", "risk_limits")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    RISK_LIMITS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    risk_limits: RiskLimits
    def __init__(self, account_id: _Optional[str] = ..., risk_limits: _Optional[_Union[RiskLimits, _Mapping]] = ...) -> None: ...

class SetRiskLimitsResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: Account
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ...) -> None: ...

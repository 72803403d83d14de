from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CircuitState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CIRCUIT_STATE_UNSPECIFIED: _ClassVar[CircuitState]
    CIRCUIT_STATE_CLOSED: _ClassVar[CircuitState]
    CIRCUIT_STATE_OPEN: _ClassVar[CircuitState]
    CIRCUIT_STATE_HALF_OPEN: _ClassVar[CircuitState]
CIRCUIT_STATE_UNSPECIFIED: CircuitState
CIRCUIT_STATE_CLOSED: CircuitState
CIRCUIT_STATE_OPEN: CircuitState
CIRCUIT_STATE_HALF_OPEN: CircuitState

class HaltRequest(_message.Message):
    __slots__ = ("account_id", "reason")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    reason: str
    def __init__(self, account_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class HaltResponse(_message.Message):
    __slots__ = ("orders_canceled",)
    ORDERS_CANCELED_FIELD_NUMBER: _ClassVar[int]
    orders_canceled: int
    def __init__(self, orders_canceled: _Optional[int] = ...) -> None: ...

class ResumeRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class ResumeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Venue(_message.Message):
    __slots__ = ("name", "circuit_state", "consecutive_failures", "taker_fee_bps", "maker_rebate_bps", "working_orders")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_STATE_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    TAKER_FEE_BPS_FIELD_NUMBER: _ClassVar[int]
    MAKER_REBATE_BPS_FIELD_NUMBER: _ClassVar[int]
    WORKING_ORDERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    circuit_state: CircuitState
    consecutive_failures: int
    taker_fee_bps: str
    maker_rebate_bps: str
    working_orders: int
    def __init__(self, name: _Optional[str] = ..., circuit_state: _Optional[_Union[CircuitState, str]] = ..., consecutive_failures: _Optional[int] = ..., taker_fee_bps: _Optional[str] = ..., maker_rebate_bps: _Optional[str] = ..., working_orders: _Optional[int] = ...) -> None: ...

class ListVenuesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListVenuesResponse(_message.Message):
    __slots__ = ("venues",)
    VENUES_FIELD_NUMBER: _ClassVar[int]
    venues: _containers.RepeatedCompositeFieldContainer[Venue]
    def __init__(self, venues: _Optional[_Iterable[_Union[Venue, _Mapping]]] = ...) -> None: ...

from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Side(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIDE_UNSPECIFIED: _ClassVar[Side]
    SIDE_BUY: _ClassVar[Side]
    SIDE_SELL: _ClassVar[Side]

class OrderType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_TYPE_UNSPECIFIED: _ClassVar[OrderType]
    ORDER_TYPE_MARKET: _ClassVar[OrderType]
    ORDER_TYPE_LIMIT: _ClassVar[OrderType]

class TimeInForce(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIME_IN_FORCE_UNSPECIFIED: _ClassVar[TimeInForce]
    TIME_IN_FORCE_DAY: _ClassVar[TimeInForce]
    TIME_IN_FORCE_GTC: _ClassVar[TimeInForce]
    TIME_IN_FORCE_IOC: _ClassVar[TimeInForce]
    TIME_IN_FORCE_FOK: _ClassVar[TimeInForce]

class ExecType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXEC_TYPE_UNSPECIFIED: _ClassVar[ExecType]
    EXEC_TYPE_NEW: _ClassVar[ExecType]
    EXEC_TYPE_TRADE: _ClassVar[ExecType]
    EXEC_TYPE_CANCELED: _ClassVar[ExecType]
    EXEC_TYPE_REPLACED: _ClassVar[ExecType]
    EXEC_TYPE_REJECTED: _ClassVar[ExecType]
    EXEC_TYPE_CANCEL_REJECTED: _ClassVar[ExecType]
    EXEC_TYPE_REPLACE_REJECTED: _ClassVar[ExecType]
    EXEC_TYPE_EXPIRED: _ClassVar[ExecType]

class OrderStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_STATUS_UNSPECIFIED: _ClassVar[OrderStatus]
    ORDER_STATUS_NEW: _ClassVar[OrderStatus]
    ORDER_STATUS_PARTIALLY_FILLED: _ClassVar[OrderStatus]
    ORDER_STATUS_FILLED: _ClassVar[OrderStatus]
    ORDER_STATUS_CANCELED: _ClassVar[OrderStatus]
    ORDER_STATUS_REJECTED: _ClassVar[OrderStatus]
    ORDER_STATUS_UNKNOWN: _ClassVar[OrderStatus]
    ORDER_STATUS_EXPIRED: _ClassVar[OrderStatus]

class Liquidity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LIQUIDITY_UNSPECIFIED: _ClassVar[Liquidity]
    LIQUIDITY_MAKER: _ClassVar[Liquidity]
    LIQUIDITY_TAKER: _ClassVar[Liquidity]
SIDE_UNSPECIFIED: Side
SIDE_BUY: Side
SIDE_SELL: Side
ORDER_TYPE_UNSPECIFIED: OrderType
ORDER_TYPE_MARKET: OrderType
ORDER_TYPE_LIMIT: OrderType
TIME_IN_FORCE_UNSPECIFIED: TimeInForce
TIME_IN_FORCE_DAY: TimeInForce
TIME_IN_FORCE_GTC: TimeInForce
TIME_IN_FORCE_IOC: TimeInForce
TIME_IN_FORCE_FOK: TimeInForce
EXEC_TYPE_UNSPECIFIED: ExecType
EXEC_TYPE_NEW: ExecType
EXEC_TYPE_TRADE: ExecType
EXEC_TYPE_CANCELED: ExecType
EXEC_TYPE_REPLACED: ExecType
EXEC_TYPE_REJECTED: ExecType
EXEC_TYPE_CANCEL_REJECTED: ExecType
EXEC_TYPE_REPLACE_REJECTED: ExecType
EXEC_TYPE_EXPIRED: ExecType
ORDER_STATUS_UNSPECIFIED: OrderStatus
ORDER_STATUS_NEW: OrderStatus
ORDER_STATUS_PARTIALLY_FILLED: OrderStatus
ORDER_STATUS_FILLED: OrderStatus
ORDER_STATUS_CANCELED: OrderStatus
ORDER_STATUS_REJECTED: OrderStatus
ORDER_STATUS_UNKNOWN: OrderStatus
ORDER_STATUS_EXPIRED: OrderStatus
LIQUIDITY_UNSPECIFIED: Liquidity
LIQUIDITY_MAKER: Liquidity
LIQUIDITY_TAKER: Liquidity

class NewOrder(_message.Message):
    __slots__ = ("child_order_id", "symbol", "side", "order_type", "time_in_force", "quantity", "limit_price", "sent_time_ns")
    CHILD_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    ORDER_TYPE_FIELD_NUMBER: _ClassVar[int]
    TIME_IN_FORCE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    SENT_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    child_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    quantity: str
    limit_price: str
    sent_time_ns: int
    def __init__(self, child_order_id: _Optional[str] = ..., symbol: _Optional[str] = ..., side: _Optional[_Union[Side, str]] = ..., order_type: _Optional[_Union[OrderType, str]] = ..., time_in_force: _Optional[_Union[TimeInForce, str]] = ..., quantity: _Optional[str] = ..., limit_price: _Optional[str] = ..., sent_time_ns: _Optional[int] = ...) -> None: ...

class CancelOrder(_message.Message):
    __slots__ = ("child_order_id",)
    CHILD_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    child_order_id: str
    def __init__(self, child_order_id: _Optional[str] = ...) -> None: ...

class ReplaceOrder(_message.Message):
    __slots__ = ("child_order_id", "quantity", "limit_price")
    CHILD_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    child_order_id: str
    quantity: str
    limit_price: str
    def __init__(self, child_order_id: _Optional[str] = ..., quantity: _Optional[str] = ..., limit_price: _Optional[str] = ...) -> None: ...

class OrderEnvelope(_message.Message):
    __slots__ = ("new_order", "cancel_order", "replace_order")
    NEW_ORDER_FIELD_NUMBER: _ClassVar[int]
    CANCEL_ORDER_FIELD_NUMBER: _ClassVar[int]
    REPLACE_ORDER_FIELD_NUMBER: _ClassVar[int]
    new_order: NewOrder
    cancel_order: CancelOrder
    replace_order: ReplaceOrder
    def __init__(self, new_order: _Optional[_Union[NewOrder, _Mapping]] = ..., cancel_order: _Optional[_Union[CancelOrder, _Mapping]] = ..., replace_order: _Optional[_Union[ReplaceOrder, _Mapping]] = ...) -> None: ...

class ExecutionReport(_message.Message):
    __slots__ = ("venue", "exec_id", "child_order_id", "exec_type", "order_status", "last_qty", "last_price", "cum_qty", "leaves_qty", "fee", "liquidity", "text", "transact_time_ns", "venue_sequence")
    VENUE_FIELD_NUMBER: _ClassVar[int]
    EXEC_ID_FIELD_NUMBER: _ClassVar[int]
    CHILD_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    EXEC_TYPE_FIELD_NUMBER: _ClassVar[int]
    ORDER_STATUS_FIELD_NUMBER: _ClassVar[int]
    LAST_QTY_FIELD_NUMBER: _ClassVar[int]
    LAST_PRICE_FIELD_NUMBER: _ClassVar[int]
    CUM_QTY_FIELD_NUMBER: _ClassVar[int]
    LEAVES_QTY_FIELD_NUMBER: _ClassVar[int]
    FEE_FIELD_NUMBER: _ClassVar[int]
    LIQUIDITY_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TRANSACT_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    VENUE_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    venue: str
    exec_id: str
    child_order_id: str
    exec_type: ExecType
    order_status: OrderStatus
    last_qty: str
    last_price: str
    cum_qty: str
    leaves_qty: str
    fee: str
    liquidity: Liquidity
    text: str
    transact_time_ns: int
    venue_sequence: int
    def __init__(self, venue: _Optional[str] = ..., exec_id: _Optional[str] = ..., child_order_id: _Optional[str] = ..., exec_type: _Optional[_Union[ExecType, str]] = ..., order_status: _Optional[_Union[OrderStatus, str]] = ..., last_qty: _Optional[str] = ..., last_price: _Optional[str] = ..., cum_qty: _Optional[str] = ..., leaves_qty: _Optional[str] = ..., fee: _Optional[str] = ..., liquidity: _Optional[_Union[Liquidity, str]] = ..., text: _Optional[str] = ..., transact_time_ns: _Optional[int] = ..., venue_sequence: _Optional[int] = ...) -> None: ...

class ExecutionReports(_message.Message):
    __slots__ = ("reports",)
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    reports: _containers.RepeatedCompositeFieldContainer[ExecutionReport]
    def __init__(self, reports: _Optional[_Iterable[_Union[ExecutionReport, _Mapping]]] = ...) -> None: ...

class OrderStatusRequest(_message.Message):
    __slots__ = ("child_order_ids",)
    CHILD_ORDER_IDS_FIELD_NUMBER: _ClassVar[int]
    child_order_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, child_order_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ChildOrderStatus(_message.Message):
    __slots__ = ("child_order_id", "order_status", "cum_qty", "leaves_qty", "fills")
    CHILD_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_STATUS_FIELD_NUMBER: _ClassVar[int]
    CUM_QTY_FIELD_NUMBER: _ClassVar[int]
    LEAVES_QTY_FIELD_NUMBER: _ClassVar[int]
    FILLS_FIELD_NUMBER: _ClassVar[int]
    child_order_id: str
    order_status: OrderStatus
    cum_qty: str
    leaves_qty: str
    fills: _containers.RepeatedCompositeFieldContainer[ExecutionReport]
    def __init__(self, child_order_id: _Optional[str] = ..., order_status: _Optional[_Union[OrderStatus, str]] = ..., cum_qty: _Optional[str] = ..., leaves_qty: _Optional[str] = ..., fills: _Optional[_Iterable[_Union[ExecutionReport, _Mapping]]] = ...) -> None: ...

class OrderStatusResponse(_message.Message):
    __slots__ = ("venue", "orders")
    VENUE_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    venue: str
    orders: _containers.RepeatedCompositeFieldContainer[ChildOrderStatus]
    def __init__(self, venue: _Optional[str] = ..., orders: _Optional[_Iterable[_Union[ChildOrderStatus, _Mapping]]] = ...) -> None: ...

class BookLevel(_message.Message):
    __slots__ = ("price", "size")
    PRICE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    price: str
    size: str
    def __init__(self, price: _Optional[str] = ..., size: _Optional[str] = ...) -> None: ...

class BookSnapshot(_message.Message):
    __slots__ = ("venue", "symbol", "bids", "asks", "book_sequence", "time_ns")
    VENUE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    BIDS_FIELD_NUMBER: _ClassVar[int]
    ASKS_FIELD_NUMBER: _ClassVar[int]
    BOOK_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIME_NS_FIELD_NUMBER: _ClassVar[int]
    venue: str
    symbol: str
    bids: _containers.RepeatedCompositeFieldContainer[BookLevel]
    asks: _containers.RepeatedCompositeFieldContainer[BookLevel]
    book_sequence: int
    time_ns: int
    def __init__(self, venue: _Optional[str] = ..., symbol: _Optional[str] = ..., bids: _Optional[_Iterable[_Union[BookLevel, _Mapping]]] = ..., asks: _Optional[_Iterable[_Union[BookLevel, _Mapping]]] = ..., book_sequence: _Optional[int] = ..., time_ns: _Optional[int] = ...) -> None: ...

class BookRequest(_message.Message):
    __slots__ = ("symbols",)
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    symbols: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, symbols: _Optional[_Iterable[str]] = ...) -> None: ...

class BookResponse(_message.Message):
    __slots__ = ("books",)
    BOOKS_FIELD_NUMBER: _ClassVar[int]
    books: _containers.RepeatedCompositeFieldContainer[BookSnapshot]
    def __init__(self, books: _Optional[_Iterable[_Union[BookSnapshot, _Mapping]]] = ...) -> None: ...

class FaultSettings(_message.Message):
    __slots__ = ("reject_rate", "drop_rate", "duplicate_exec_rate")
    REJECT_RATE_FIELD_NUMBER: _ClassVar[int]
    DROP_RATE_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_EXEC_RATE_FIELD_NUMBER: _ClassVar[int]
    reject_rate: float
    drop_rate: float
    duplicate_exec_rate: float
    def __init__(self, reject_rate: _Optional[float] = ..., drop_rate: _Optional[float] = ..., duplicate_exec_rate: _Optional[float] = ...) -> None: ...

class SimulatorControl(_message.Message):
    __slots__ = ("faults", "dark_for_ms", "set_book", "latency_ms")
    FAULTS_FIELD_NUMBER: _ClassVar[int]
    DARK_FOR_MS_FIELD_NUMBER: _ClassVar[int]
    SET_BOOK_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    faults: FaultSettings
    dark_for_ms: int
    set_book: BookSnapshot
    latency_ms: float
    def __init__(self, faults: _Optional[_Union[FaultSettings, _Mapping]] = ..., dark_for_ms: _Optional[int] = ..., set_book: _Optional[_Union[BookSnapshot, _Mapping]] = ..., latency_ms: _Optional[float] = ...) -> None: ...

class SimulatorControlResponse(_message.Message):
    __slots__ = ("venue",)
    VENUE_FIELD_NUMBER: _ClassVar[int]
    venue: str
    def __init__(self, venue: _Optional[str] = ...) -> None: ...

import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from protos.oms.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Order(_message.Message):
    __slots__ = ("order_id", "client_order_id", "account_id", "symbol", "side", "order_type", "time_in_force", "quantity", "limit_price", "stop_price", "state", "cum_qty", "leaves_qty", "avg_price", "routing_strategy", "venue", "text", "replaces_order_id", "replaced_by_order_id", "create_time", "update_time", "fees", "net_avg_price", "arrival_price", "best_single_venue_price")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    ORDER_TYPE_FIELD_NUMBER: _ClassVar[int]
    TIME_IN_FORCE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    STOP_PRICE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CUM_QTY_FIELD_NUMBER: _ClassVar[int]
    LEAVES_QTY_FIELD_NUMBER: _ClassVar[int]
    AVG_PRICE_FIELD_NUMBER: _ClassVar[int]
    ROUTING_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    VENUE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    REPLACES_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    REPLACED_BY_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    FEES_FIELD_NUMBER: _ClassVar[int]
    NET_AVG_PRICE_FIELD_NUMBER: _ClassVar[int]
    ARRIVAL_PRICE_FIELD_NUMBER: _ClassVar[int]
    BEST_SINGLE_VENUE_PRICE_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    client_order_id: str
    account_id: str
    symbol: str
    side: _common_pb2.Side
    order_type: _common_pb2.OrderType
    time_in_force: _common_pb2.TimeInForce
    quantity: str
    limit_price: str
    stop_price: str
    state: _common_pb2.OrderState
    cum_qty: str
    leaves_qty: str
    avg_price: str
    routing_strategy: _common_pb2.RoutingStrategy
    venue: str
    text: str
    replaces_order_id: str
    replaced_by_order_id: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    fees: str
    net_avg_price: str
    arrival_price: str
    best_single_venue_price: str
    def __init__(self, order_id: _Optional[str] = ..., client_order_id: _Optional[str] = ..., account_id: _Optional[str] = ..., symbol: _Optional[str] = ..., side: _Optional[_Union[_common_pb2.Side, str]] = ..., order_type: _Optional[_Union[_common_pb2.OrderType, str]] = ..., time_in_force: _Optional[_Union[_common_pb2.TimeInForce, str]] = ..., quantity: _Optional[str] = ..., limit_price: _Optional[str] = ..., stop_price: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.OrderState, str]] = ..., cum_qty: _Optional[str] = ..., leaves_qty: _Optional[str] = ..., avg_price: _Optional[str] = ..., routing_strategy: _Optional[_Union[_common_pb2.RoutingStrategy, str]] = ..., venue: _Optional[str] = ..., text: _Optional[str] = ..., replaces_order_id: _Optional[str] = ..., replaced_by_order_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fees: _Optional[str] = ..., net_avg_price: _Optional[str] = ..., arrival_price: _Optional[str] = ..., best_single_venue_price: _Optional[str] = ...) -> None: ...

class ExecutionReport(_message.Message):
    __slots__ = ("sequence", "exec_id", "order_id", "client_order_id", "account_id", "symbol", "side", "exec_type", "order_state", "last_qty", "last_price", "last_venue", "cum_qty", "leaves_qty", "avg_price", "text", "transact_time")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EXEC_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    EXEC_TYPE_FIELD_NUMBER: _ClassVar[int]
    ORDER_STATE_FIELD_NUMBER: _ClassVar[int]
    LAST_QTY_FIELD_NUMBER: _ClassVar[int]
    LAST_PRICE_FIELD_NUMBER: _ClassVar[int]
    LAST_VENUE_FIELD_NUMBER: _ClassVar[int]
    CUM_QTY_FIELD_NUMBER: _ClassVar[int]
    LEAVES_QTY_FIELD_NUMBER: _ClassVar[int]
    AVG_PRICE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TRANSACT_TIME_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    exec_id: str
    order_id: str
    client_order_id: str
    account_id: str
    symbol: str
    side: _common_pb2.Side
    exec_type: _common_pb2.ExecType
    order_state: _common_pb2.OrderState
    last_qty: str
    last_price: str
    last_venue: str
    cum_qty: str
    leaves_qty: str
    avg_price: str
    text: str
    transact_time: _timestamp_pb2.Timestamp
    def __init__(self, sequence: _Optional[int] = ..., exec_id: _Optional[str] = ..., order_id: _Optional[str] = ..., client_order_id: _Optional[str] = ..., account_id: _Optional[str] = ..., symbol: _Optional[str] = ..., side: _Optional[_Union[_common_pb2.Side, str]] = ..., exec_type: _Optional[_Union[_common_pb2.ExecType, str]] = ..., order_state: _Optional[_Union[_common_pb2.OrderState, str]] = ..., last_qty: _Optional[str] = ..., last_price: _Optional[str] = ..., last_venue: _Optional[str] = ..., cum_qty: _Optional[str] = ..., leaves_qty: _Optional[str] = ..., avg_price: _Optional[str] = ..., text: _Optional[str] = ..., transact_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

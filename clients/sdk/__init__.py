"""Python SDK of the OMS gRPC API: ``OmsClient`` (async), ``SyncOmsClient`` (blocking).

async with OmsClient("127.0.0.1:50051", token) as oms:
    order = await oms.submit_order(
        account_id="ACC1", symbol="AAPL", side="buy", quantity="100", limit_price="190"
    )
    async for report in oms.reports("ACC1"):
        ...
    async for ack in oms.order_entry([Submit(account_id="ACC1", ...), Cancel(order_id)]):
        ...  # ack.correlation_id, ack.order or ack.error
"""

from clients.sdk.client import (
    DEFAULT_TIMEOUT_S,
    OmsClient,
    ReconnectPolicy,
    RetryPolicy,
    TlsOptions,
    new_client_order_id,
)
from clients.sdk.entry import Cancel, EntryAck, OrderEntry, Replace, Submit
from clients.sdk.errors import (
    AlreadyExists,
    DeadlineExceeded,
    DuplicateClientOrderId,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OmsError,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)
from clients.sdk.sync import SyncOmsClient

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "AlreadyExists",
    "Cancel",
    "DeadlineExceeded",
    "DuplicateClientOrderId",
    "EntryAck",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "OmsClient",
    "OmsError",
    "OrderEntry",
    "PermissionDenied",
    "ReconnectPolicy",
    "Replace",
    "ResourceExhausted",
    "RetryPolicy",
    "Submit",
    "SyncOmsClient",
    "TlsOptions",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "new_client_order_id",
]

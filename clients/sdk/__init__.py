"""Python SDK of the OMS gRPC API: ``OmsClient`` (async), ``SyncOmsClient`` (blocking).

async with OmsClient("127.0.0.1:50051", token) as oms:
    order = await oms.submit_order(
        account_id="ACC1", symbol="AAPL", side="buy", quantity="100", limit_price="190"
    )
    async for report in oms.reports("ACC1"):
        ...
"""

from clients.sdk.client import (
    DEFAULT_TIMEOUT_S,
    OmsClient,
    ReconnectPolicy,
    RetryPolicy,
    TlsOptions,
    new_client_order_id,
)
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
    "DeadlineExceeded",
    "DuplicateClientOrderId",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "OmsClient",
    "OmsError",
    "PermissionDenied",
    "ReconnectPolicy",
    "ResourceExhausted",
    "RetryPolicy",
    "SyncOmsClient",
    "TlsOptions",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "new_client_order_id",
]

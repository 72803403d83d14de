"""Every NATS subject and JetStream name of the venue protocol, in one place.

    venue.<VENUE>.orders    OMS -> venue   OrderEnvelope (new, cancel, replace), core NATS
    venue.<VENUE>.exec      venue -> OMS   ExecutionReport, JetStream stream VENUE_EXEC
    venue.<VENUE>.status    request/reply  OrderStatusRequest -> OrderStatusResponse
    venue.<VENUE>.control   request/reply  SimulatorControl -> SimulatorControlResponse
    venue.<VENUE>.books     request/reply  BookRequest -> BookResponse (current books)
    md.<VENUE>.<SYMBOL>     venue -> all   BookSnapshot (top N levels), core NATS

Orders travel on core NATS: a lost order is found by reconciliation (status request)
and resent, which the venue absorbs because it is idempotent on child_order_id.
Execution reports travel on JetStream and are acked by the OMS only once stored.
"""

from __future__ import annotations

EXEC_STREAM = "VENUE_EXEC"
EXEC_STREAM_SUBJECTS = "venue.*.exec"
#: Durable consumer of the OMS on EXEC_STREAM.
OMS_EXEC_CONSUMER = "oms-exec"
#: Days execution reports are kept in the stream.
EXEC_STREAM_MAX_AGE_S = 7 * 24 * 3600


def orders(venue: str) -> str:
    return f"venue.{venue}.orders"


def exec_reports(venue: str) -> str:
    return f"venue.{venue}.exec"


def status(venue: str) -> str:
    return f"venue.{venue}.status"


def control(venue: str) -> str:
    return f"venue.{venue}.control"


def books(venue: str) -> str:
    return f"venue.{venue}.books"


def market_data(venue: str, symbol: str) -> str:
    return f"md.{venue}.{symbol}"


ALL_MARKET_DATA = "md.*.*"

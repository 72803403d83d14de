"""Every NATS subject and JetStream name of the venue protocol, in one place.

    venue.<VENUE>.orders    OMS -> venue   OrderEnvelope (new, cancel, replace), core NATS
    venue.<VENUE>.exec      venue -> OMS   ExecutionReport, JetStream stream VENUE_EXEC
    venue.<VENUE>.exec.<R>  venue -> OMS   the same, for orders sent with route R (a shard)
    venue.<VENUE>.status    request/reply  OrderStatusRequest -> OrderStatusResponse
    venue.<VENUE>.control   request/reply  SimulatorControl -> SimulatorControlResponse
    venue.<VENUE>.books     request/reply  BookRequest -> BookResponse (current books)
    md.<VENUE>.<SYMBOL>     venue -> all   BookSnapshot (top N levels), core NATS

Orders travel on core NATS: a lost order is found by reconciliation (status request)
and resent, which the venue absorbs because it is idempotent on child_order_id.
Execution reports travel on JetStream and are acked by the OMS only once stored.

A sharded OMS names its shard in every NewOrder (``route``, the shard id); the venue sends
that child's reports on ``venue.<VENUE>.exec.<route>``, and each shard reads only its own
subjects through a durable consumer of its own (``oms-exec-<route>``). A single OMS
sends no route and reads ``venue.*.exec`` with ``oms-exec``, as before shards.
"""

from __future__ import annotations

EXEC_STREAM = "VENUE_EXEC"
#: The reports of orders sent with no route (a single OMS).
EXEC_STREAM_SUBJECTS = "venue.*.exec"
#: The reports of orders sent with a route (an OMS shard).
EXEC_STREAM_ROUTED_SUBJECTS = "venue.*.exec.*"
#: Durable consumer of the OMS on EXEC_STREAM.
OMS_EXEC_CONSUMER = "oms-exec"
#: Days execution reports are kept in the stream.
EXEC_STREAM_MAX_AGE_S = 7 * 24 * 3600


def orders(venue: str) -> str:
    return f"venue.{venue}.orders"


def exec_reports(venue: str, route: str = "") -> str:
    """Where ``venue`` sends the reports of orders sent with ``route`` ("" for none)."""
    return f"venue.{venue}.exec.{route}" if route else f"venue.{venue}.exec"


def oms_exec_filter(route: str = "") -> str:
    """The subjects the OMS (or its shard ``route``) reads its reports from."""
    return f"venue.*.exec.{route}" if route else EXEC_STREAM_SUBJECTS


def oms_exec_consumer(route: str = "") -> str:
    """The durable consumer of the OMS (or of its shard ``route``) on EXEC_STREAM."""
    return f"{OMS_EXEC_CONSUMER}-{route}" if route else OMS_EXEC_CONSUMER


def status(venue: str) -> str:
    return f"venue.{venue}.status"


def control(venue: str) -> str:
    return f"venue.{venue}.control"


def books(venue: str) -> str:
    return f"venue.{venue}.books"


def market_data(venue: str, symbol: str) -> str:
    return f"md.{venue}.{symbol}"


ALL_MARKET_DATA = "md.*.*"

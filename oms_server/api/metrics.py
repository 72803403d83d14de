"""What the gRPC edge measures: every call by method and status code, order refusals by
reason and field, submit-to-ack, and the report streams' lag. Read at scrape time.

The per-method figures are reached through an object made once per method when its
handler is wrapped, so a call costs a dict lookup by status code and a histogram
observation: no allocation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc

from oms_server.domain.errors import OmsError, ValidationError
from oms_server.histograms import Histogram

#: The code a call ended with when it raised something that set none.
UNKNOWN_CODE = grpc.StatusCode.UNKNOWN


class MethodCalls:
    """One RPC's calls: a latency histogram per status code they ended with."""

    __slots__ = ("by_code", "method", "service", "type")

    def __init__(self, full_method: str, rpc_type: str) -> None:
        self.service, _, self.method = full_method.strip("/").rpartition("/")
        self.type = rpc_type
        self.by_code: dict[grpc.StatusCode, Histogram] = {}

    def observe(self, code: grpc.StatusCode, seconds: float) -> None:
        histogram = self.by_code.get(code)
        if histogram is None:
            histogram = self.by_code[code] = Histogram()
        histogram.observe(seconds)


@dataclass(slots=True)
class ApiMetrics:
    """The gRPC edge's figures, one object per server."""

    calls: dict[str, MethodCalls] = field(default_factory=dict)
    #: Orders refused before the engine took them, by (reason, field): invalid fields,
    #: unknown symbols... (the engine's own refusals are the writer's ``refused``).
    refusals: dict[tuple[str, str], int] = field(default_factory=dict)
    #: SubmitOrder (unary or on an OrderEntry stream) from its arrival to its answer, for
    #: orders accepted: the answer leaves after the order's commit.
    submit_to_ack: Histogram = field(default_factory=Histogram)
    #: A report's creation (its transact time) to its send on a live report stream.
    stream_lag: Histogram = field(default_factory=Histogram)

    def method(self, full_method: str, rpc_type: str) -> MethodCalls:
        """The figures of ``full_method`` (``/pkg.Service/Method``), made on first use."""
        calls = self.calls.get(full_method)
        if calls is None:
            calls = self.calls[full_method] = MethodCalls(full_method, rpc_type)
        return calls

    def refused(self, error: OmsError) -> None:
        """Count a validation refusal of an order request."""
        key = (error.reason, error.field if isinstance(error, ValidationError) else "")
        self.refusals[key] = self.refusals.get(key, 0) + 1

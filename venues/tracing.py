"""OpenTelemetry trace context carried in NATS message headers."""

from __future__ import annotations

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

tracer = trace.get_tracer("oms.venues")


def inject_headers(headers: dict[str, str] | None = None) -> dict[str, str]:
    """Headers carrying the current trace context (traceparent, tracestate)."""
    carrier: dict[str, str] = dict(headers or {})
    propagate.inject(carrier)
    return carrier


def extract_context(headers: dict[str, str] | None) -> otel_context.Context:
    """The trace context a message carried, to parent the spans that handle it."""
    return propagate.extract(headers or {})

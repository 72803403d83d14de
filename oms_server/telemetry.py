"""Tracing for every part of the OMS: one switch, cheap spans, and trace context
carried in message headers (NATS) so a trace follows an order across processes."""

from __future__ import annotations

import contextlib
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider

tracer = trace.get_tracer("oms.venues")  # the venue side's spans


class _TracingState:
    """Whether a real tracer provider is installed, read once instead of on every call.

    ``trace.get_tracer_provider()`` looks up an environment variable on every call while
    no provider is set: a few percent of the server's time on the order path.
    """

    enabled = isinstance(trace.get_tracer_provider(), TracerProvider)


def install_tracer_provider(provider: TracerProvider) -> None:
    """Install ``provider`` as the process's tracer provider (OpenTelemetry allows one)."""
    trace.set_tracer_provider(provider)
    _TracingState.enabled = isinstance(trace.get_tracer_provider(), TracerProvider)


def inject_headers(headers: dict[str, str] | None = None) -> dict[str, str]:
    """Headers carrying the current trace context (traceparent, tracestate)."""
    carrier: dict[str, str] = dict(headers or {})
    if tracing_enabled():
        propagate.inject(carrier)
    return carrier


def extract_context(headers: dict[str, str] | None) -> otel_context.Context:
    """The trace context a message carried, to parent the spans that handle it."""
    return propagate.extract(headers or {})


def tracing_enabled() -> bool:
    """True once a real tracer provider is installed (see install_tracer_provider)."""
    return _TracingState.enabled


def span(named_tracer: trace.Tracer, name: str, **kwargs: Any) -> Any:
    """A current span, or nothing at all when tracing is off (no-op spans still cost)."""
    if not tracing_enabled():
        return contextlib.nullcontext()
    return named_tracer.start_as_current_span(name, **kwargs)

"""Traces, metrics and logs, configured from the environment.

- ``OTEL_TRACES_EXPORTER``: ``none`` (default), ``console``, or ``otlp`` (needs the
  opentelemetry-exporter-otlp package; the endpoint comes from the standard
  ``OTEL_EXPORTER_OTLP_ENDPOINT``).
- ``OMS_METRICS_ADDR``: ``host:port`` of a Prometheus endpoint (unset: none).
  Metrics are read from the engine's state at scrape time; latencies are counted into
  plain histograms on the order path (oms_server/histograms.py: a bisect and two
  additions), so serving orders pays next to nothing for them.
- ``OMS_LOG_FORMAT=json``: one JSON object per log line (structured logs), its time in
  ISO-8601 UTC (``2026-12-03T15:04:05.123Z``), with the ids (order_id, account_id,
  venue) a log call passes in ``extra``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from prometheus_client import start_http_server
from prometheus_client.core import (
    REGISTRY,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from oms_server.api.metrics import ApiMetrics
from oms_server.descriptors import descriptor_limit, open_descriptors
from oms_server.histograms import Histogram
from oms_server.telemetry import install_tracer_provider

if TYPE_CHECKING:
    from oms_server.app import OmsApp
    from oms_server.engine.engine import OrderEngine

log = logging.getLogger(__name__)

SERVICE_NAME = "oms"


def configure_tracing(env: Mapping[str, str] | None = None) -> None:
    """Install a tracer provider with the exporter the environment asks for."""
    env = os.environ if env is None else env
    exporter_name = env.get("OTEL_TRACES_EXPORTER", "none").lower()
    if exporter_name == "none":
        return
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    if exporter_name == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter_name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise ValueError(
                "OTEL_TRACES_EXPORTER=otlp needs: pip install opentelemetry-exporter-otlp"
            ) from exc
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        raise ValueError(
            f"OTEL_TRACES_EXPORTER must be none, console or otlp, not {exporter_name!r}"
        )
    install_tracer_provider(provider)


def configure_logging(level: str, env: Mapping[str, str] | None = None) -> None:
    env = os.environ if env is None else env
    handler = logging.StreamHandler()
    if env.get("OMS_LOG_FORMAT", "").lower() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler], force=True)


#: The ids a log record may carry (``log.info(..., extra={"order_id": ...})``).
LOG_IDS = ("order_id", "account_id", "venue", "child_order_id")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the trace id when a span is active."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """ISO-8601 in UTC to the millisecond: 2026-12-03T15:04:05.123Z."""
        moment = datetime.fromtimestamp(record.created, UTC)
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = f"{span.trace_id:032x}"
        for key in LOG_IDS:
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def serve_metrics(app: OmsApp, addr: str | None) -> None:
    """Expose the app's metrics for Prometheus on ``addr`` (host:port)."""
    if not addr:
        return
    host, _, port = addr.rpartition(":")
    REGISTRY.register(OmsCollector(app))
    start_http_server(int(port), addr=host or "127.0.0.1")
    log.info("metrics on http://%s/metrics", addr)


class OmsCollector(Collector):
    """Reads counters and gauges off the running app at scrape time."""

    def __init__(self, app: OmsApp) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        engine = self._app.engine
        if engine is None:
            return
        stats = engine.stats
        yield _counter("oms_orders_accepted", "Orders accepted", stats.accepted)
        refused = CounterMetricFamily("oms_orders_refused", "Orders refused", labels=["reason"])
        for reason, count in sorted(engine.refused.items()):
            refused.add_metric([reason], count)
        yield refused
        yield _counter("oms_fills", "Venue fills applied to parent orders", stats.fills)
        yield _counter("oms_commits", "Group commits of the journal", engine.commits)
        yield from _key_metrics(engine)
        states = GaugeMetricFamily(
            "oms_orders_working", "Working orders by state", labels=["state"]
        )
        for state, count in sorted(engine.working_states().items()):
            states.add_metric([state], count)
        yield states
        yield GaugeMetricFamily(
            "oms_stream_subscribers",
            "Execution-report subscribers",
            value=self._app.hub.subscriber_count(),
        )
        yield _counter("oms_routing_seconds", "Time spent planning routes", stats.routing_seconds)
        routing = engine.routing
        yield _counter(
            "oms_venue_reports_ignored",
            "Venue reports dropped as duplicates or for unknown children",
            routing.ignored_reports,
        )
        yield _counter(
            "oms_overfills_refused",
            "Venue fills refused as overfills",
            routing.refused_overfills,
        )
        yield _counter(
            "oms_repegs",
            "Resting children of pegged orders canceled to re-peg them as the book moved",
            routing.repegs,
        )
        yield from self._venue_metrics()
        yield from self._admission_metrics()
        yield from _latency_metrics(engine, self._app.api_metrics)
        yield from _grpc_metrics(self._app.api_metrics)

    def _admission_metrics(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "oms_open_descriptors", "File descriptors open", value=open_descriptors()
        )
        yield GaugeMetricFamily(
            "oms_descriptor_limit", "Soft file descriptor limit", value=descriptor_limit()
        )
        admission = self._app.admission
        yield GaugeMetricFamily("oms_calls_in_flight", "Admitted calls", value=admission.calls)
        yield _counter("oms_calls_refused", "Calls refused by a cap", admission.refused)

    def _venue_metrics(self) -> Iterator[Metric]:
        connector = self._app.connector
        if connector is None:
            return
        open_ = GaugeMetricFamily(
            "oms_venue_routable", "1 when the venue's circuit is closed", labels=["venue"]
        )
        for status in connector.venue_statuses():
            open_.add_metric([status.name], 1.0 if status.breaker == "CLOSED" else 0.0)
        yield open_


def _latency_metrics(engine: OrderEngine, api: ApiMetrics) -> Iterator[Metric]:
    """Submit-to-ack, route-to-fill, group commit and stream lag, in seconds."""
    yield _histogram(
        "oms_submit_to_ack_seconds",
        "SubmitOrder from arrival to its answer (after the order's commit), orders accepted",
        api.submit_to_ack,
    )
    yield _histogram(
        "oms_route_to_fill_seconds",
        "A child order's routing to each venue fill of it applied",
        engine.routing.route_to_fill,
    )
    yield _histogram(
        "oms_commit_seconds",
        "Group commits of the journal (one per batch of commands)",
        engine.writer.stats.commit_seconds,
    )
    yield _histogram(
        "oms_stream_lag_seconds",
        "A report's creation to its send on a live report stream (oldest of each message)",
        api.stream_lag,
    )
    refusals = CounterMetricFamily(
        "oms_order_validation_refusals",
        "Order requests refused as invalid before the engine took them",
        labels=["reason", "field"],
    )
    for (reason, field_name), count in sorted(api.refusals.items()):
        refusals.add_metric([reason, field_name], count)
    yield refusals


def _grpc_metrics(api: ApiMetrics) -> Iterator[Metric]:
    """Calls handled and their latency per service, method and status code (the names
    of go-grpc-prometheus)."""
    labels = ["grpc_type", "grpc_service", "grpc_method", "grpc_code"]
    handled = CounterMetricFamily(
        "grpc_server_handled", "RPCs completed on the server", labels=labels
    )
    seconds = HistogramMetricFamily(
        "grpc_server_handling_seconds", "RPC latency until the server's answer", labels=labels
    )
    for calls in list(api.calls.values()):
        for code, histogram in list(calls.by_code.items()):
            values = [calls.type, calls.service, calls.method, code.name]
            handled.add_metric(values, histogram.count)
            seconds.add_metric(values, list(histogram.cumulative()), histogram.sum)
    yield handled
    yield seconds


def _histogram(name: str, documentation: str, histogram: Histogram) -> HistogramMetricFamily:
    return HistogramMetricFamily(
        name, documentation, buckets=list(histogram.cumulative()), sum_value=histogram.sum
    )


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _key_metrics(engine: OrderEngine) -> Iterator[Metric]:
    """The idempotency-key index: exact keys, filtered keys, and reads of the store."""
    keys = engine.client_ids
    yield GaugeMetricFamily(
        "oms_client_ids_recent", "Idempotency keys held exactly in memory", value=len(keys)
    )
    yield GaugeMetricFamily(
        "oms_client_ids_filtered",
        "Older idempotency keys held in the Bloom filter",
        value=keys.older_count,
    )
    yield GaugeMetricFamily(
        "oms_client_ids_filter_bytes", "Memory of the Bloom filter", value=keys.filter_bytes
    )
    yield _counter(
        "oms_client_id_lookups",
        "Store reads for idempotency keys no longer held exactly",
        engine.stats.key_lookups,
    )

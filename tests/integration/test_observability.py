"""One order's trace spans the OMS, the router and the venue; metrics describe the engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, generate_latest

from oms_server.observability import OmsCollector
from oms_server.telemetry import install_tracer_provider
from protos.oms.v1 import common_pb2
from tests.support.fixtures import call_metadata
from tests.support.market import RoutedOms
from tests.support.orders import limit_buy
from tests.support.reports import final_order
from tests.support.waiting import eventually

MD = call_metadata()


@pytest.fixture(scope="session")
def span_exporter() -> Iterator[InMemorySpanExporter]:
    """An in-memory exporter on the process's tracer provider (set once per process)."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        install_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


async def test_one_orders_trace_spans_oms_router_and_venue(
    routed_oms: RoutedOms, span_exporter: InMemorySpanExporter
) -> None:
    span_exporter.clear()
    request = limit_buy(
        "traced",
        quantity="100",
        limit_price="190.02",
        routing_strategy=common_pb2.ROUTING_STRATEGY_DIRECT,
        venue="ALPHA",
    )
    order = (await routed_oms.orders.SubmitOrder(request, metadata=MD)).order
    assert (await final_order(routed_oms, order.order_id)).state == common_pb2.ORDER_STATE_FILLED
    wanted = {
        "/oms.v1.OrderService/SubmitOrder",
        "router.route",
        "venue.ALPHA.handle_order",
        "oms.apply_venue_reports",
    }

    def trace_of_submit() -> set[str]:
        spans = span_exporter.get_finished_spans()
        submit = [s for s in spans if s.name == "/oms.v1.OrderService/SubmitOrder"]
        if not submit:
            return set()
        trace_id = submit[-1].context.trace_id
        names = {s.name for s in spans if s.context.trace_id == trace_id}
        return names if wanted <= names else set()

    # The server, router, venue and report-application spans share one trace id.
    await eventually(trace_of_submit, message="spans of one trace")


async def test_metrics_describe_orders_fills_and_venues(routed_oms: RoutedOms) -> None:
    request = limit_buy("metered", quantity="10", limit_price="190.02")
    order = (await routed_oms.orders.SubmitOrder(request, metadata=MD)).order
    await final_order(routed_oms, order.order_id)
    assert routed_oms.app is not None
    registry = CollectorRegistry()
    registry.register(OmsCollector(routed_oms.app))
    text = generate_latest(registry).decode()
    assert "oms_orders_accepted_total 1.0" in text
    assert "oms_fills_total 1.0" in text
    assert "oms_overfills_refused_total 0.0" in text
    assert "oms_venue_reports_ignored_total" in text
    assert 'oms_venue_routable{venue="ALPHA"} 1.0' in text
    assert "oms_client_ids_recent 1.0" in text  # the order's idempotency key
    assert "oms_client_ids_filtered 0.0" in text
    assert "oms_client_id_lookups_total 0.0" in text

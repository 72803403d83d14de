"""The front's routes: every RPC of the public API has one (a new RPC must be placed
here), and replies of every shard merge into one."""

from __future__ import annotations

from oms_server.shards.front import _MERGES, Route, methods
from protos.oms.v1 import admin_service_pb2 as pb

ROUTES = {
    "SubmitOrder": Route.ACCOUNT,
    "SubmitOrderList": Route.ACCOUNT,
    "CancelOrder": Route.ORDER,
    "ReplaceOrder": Route.ORDER,
    "GetOrder": Route.ORDER,
    "ListOrders": Route.ACCOUNT,
    "GetOrderEvents": Route.ORDER,
    "StreamExecutionReports": Route.ACCOUNT,
    "CancelAllOrders": Route.ACCOUNT,
    "ListExecutions": Route.ACCOUNT,
    "OrderEntry": Route.ENTRY,
    "CreateAccount": Route.ACCOUNT,
    "Deposit": Route.ACCOUNT,
    "GetAccount": Route.ACCOUNT,
    "SetRiskLimits": Route.ACCOUNT,
    "ListInstruments": Route.ANY,
    "GetQuote": Route.ANY,
    "StreamQuotes": Route.ANY,
    "Halt": Route.ACCOUNT_OR_ALL,
    "Resume": Route.ACCOUNT_OR_ALL,
    "ListVenues": Route.ALL_AVAILABLE,
    "ListShards": Route.FRONT,
}


def test_every_rpc_has_its_route() -> None:
    assert {path.rsplit("/", 1)[1]: m.route for path, m in methods().items()} == ROUTES


def test_every_route_to_all_shards_has_a_merge() -> None:
    spanning = {Route.ACCOUNT_OR_ALL, Route.ALL_AVAILABLE}
    assert {p for p, m in methods().items() if m.route in spanning} == set(_MERGES)


def test_venues_merge_to_their_worst_breaker_and_all_their_children() -> None:
    def reply(state: int, failures: int, working: int) -> pb.ListVenuesResponse:
        venue = pb.Venue(
            name="ALPHA", circuit_state=state, consecutive_failures=failures, working_orders=working
        )
        return pb.ListVenuesResponse(venues=[venue])

    merged = _MERGES["/oms.v1.AdminService/ListVenues"](
        [reply(pb.CIRCUIT_STATE_CLOSED, 0, 3), reply(pb.CIRCUIT_STATE_OPEN, 4, 2)]
    )
    assert list(merged.venues) == [  # type: ignore[attr-defined]
        pb.Venue(
            name="ALPHA",
            circuit_state=pb.CIRCUIT_STATE_OPEN,
            consecutive_failures=4,
            working_orders=5,
        )
    ]
    halts = [pb.HaltResponse(orders_canceled=2), pb.HaltResponse(orders_canceled=3)]
    assert _MERGES["/oms.v1.AdminService/Halt"](halts) == pb.HaltResponse(orders_canceled=5)

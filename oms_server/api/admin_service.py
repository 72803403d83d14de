"""oms.v1.AdminService: the kill switch, the venues' routing state and the shards (admins only).

An OMS process serves one shard: every account when it is the only one (shard 1), or the
shard it was started for. The sharded front answers ListShards for every shard itself
(oms_server.shards.front).
"""

from __future__ import annotations

import os

import grpc

from oms_server.api import mapping
from oms_server.api.auth import require_admin
from oms_server.api.errors import rpc_errors
from oms_server.domain.decimals import fmt
from oms_server.domain.shards import ShardInfo, ShardState
from oms_server.engine.engine import OrderEngine
from oms_server.engine.ports import VenueDirectory
from protos.oms.v1 import admin_service_pb2 as pb
from protos.oms.v1 import admin_service_pb2_grpc
from router.circuit_breaker import BreakerState

_CIRCUIT = {
    BreakerState.CLOSED: pb.CIRCUIT_STATE_CLOSED,
    BreakerState.OPEN: pb.CIRCUIT_STATE_OPEN,
    BreakerState.HALF_OPEN: pb.CIRCUIT_STATE_HALF_OPEN,
}


class AdminService(admin_service_pb2_grpc.AdminServiceServicer):
    """Operators' controls."""

    def __init__(self, engine: OrderEngine, venues: VenueDirectory, *, shard_id: int = 1) -> None:
        self._engine = engine
        self._venues = venues
        self._shard_id = shard_id

    @rpc_errors
    async def Halt(
        self, request: pb.HaltRequest, context: grpc.aio.ServicerContext
    ) -> pb.HaltResponse:
        principal = require_admin()
        account_id = mapping.identifier(request.account_id, "account_id", required=False)
        reason = request.reason[:200] or f"halted by {principal.subject}"
        canceled = await self._engine.halt(account_id or None, principal, reason)
        return pb.HaltResponse(orders_canceled=canceled)

    @rpc_errors
    async def Resume(
        self, request: pb.ResumeRequest, context: grpc.aio.ServicerContext
    ) -> pb.ResumeResponse:
        principal = require_admin()
        account_id = mapping.identifier(request.account_id, "account_id", required=False)
        await self._engine.resume(account_id or None, principal)
        return pb.ResumeResponse()

    @rpc_errors
    async def ListVenues(
        self, request: pb.ListVenuesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListVenuesResponse:
        require_admin()
        venues = [
            pb.Venue(
                name=status.name,
                circuit_state=_CIRCUIT[status.breaker],
                consecutive_failures=status.consecutive_failures,
                taker_fee_bps=fmt(status.taker_fee_bps),
                maker_rebate_bps=fmt(status.maker_rebate_bps),
                working_orders=self._engine.working_children(status.name),
            )
            for status in self._venues.venue_statuses()
        ]
        return pb.ListVenuesResponse(venues=venues)

    @rpc_errors
    async def ListShards(
        self, request: pb.ListShardsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListShardsResponse:
        require_admin()
        shard = ShardInfo(
            self._shard_id,
            ShardState.ACTIVE if self._engine.healthy else ShardState.DOWN,
            owner_pid=os.getpid(),
            account_count=self._engine.account_count(),
        )
        return pb.ListShardsResponse(shards=[mapping.shard_message(shard)])

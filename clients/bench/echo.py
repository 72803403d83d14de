"""The baseline: a trivial grpc.aio service answering SubmitOrder with an echo of the order.

It serves the same method name and message types as the OMS, so oms-bench drives it
with exactly the client code it uses against the OMS, and what is left is the ceiling of
a Python gRPC service on this machine: no auth, no engine, no store, no venues.
Run as ``python -c 'from clients.bench.echo import main; main()' --addr HOST:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Sequence

import grpc

from clients.bench import aio
from protos.oms.v1 import common_pb2, order_pb2
from protos.oms.v1 import order_service_pb2 as pb

SUBMIT_METHOD = "/oms.v1.OrderService/SubmitOrder"
READY_LINE = "ECHO ready"
#: Seconds in-flight calls get to finish on SIGTERM.
STOP_GRACE_S = 1.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oms-bench-echo", description=__doc__)
    parser.add_argument("--addr", default="127.0.0.1:0", help="host:port (port 0: any free)")
    args = parser.parse_args(argv)
    return aio.run(serve(args.addr))


async def serve(addr: str) -> int:
    """Serve until SIGTERM or SIGINT; print the ready line with the bound address."""
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((_EchoHandler(),))
    port = server.add_insecure_port(addr)
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    host = addr.rsplit(":", 1)[0]
    print(f"{READY_LINE}: gRPC on {host}:{port}", flush=True)
    await stopping.wait()
    await server.stop(STOP_GRACE_S)
    return 0


class _EchoHandler(grpc.GenericRpcHandler):
    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        if details.method != SUBMIT_METHOD:
            return None
        return grpc.unary_unary_rpc_method_handler(
            _echo_submit,
            request_deserializer=pb.SubmitOrderRequest.FromString,
            response_serializer=pb.SubmitOrderResponse.SerializeToString,
        )


async def _echo_submit(
    request: pb.SubmitOrderRequest, context: grpc.aio.ServicerContext
) -> pb.SubmitOrderResponse:
    order = order_pb2.Order(
        order_id=request.client_order_id,
        client_order_id=request.client_order_id,
        account_id=request.account_id,
        symbol=request.symbol,
        side=request.side,
        order_type=request.order_type,
        time_in_force=request.time_in_force,
        quantity=request.quantity,
        limit_price=request.limit_price,
        state=common_pb2.ORDER_STATE_NEW,
        cum_qty="0",
        leaves_qty=request.quantity,
        routing_strategy=request.routing_strategy,
    )
    return pb.SubmitOrderResponse(order=order)

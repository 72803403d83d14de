"""Server reflection under both names: grpc.reflection.v1 (what grpcurl and buf curl try
first) and grpc.reflection.v1alpha (older clients).

grpcio-reflection serves v1alpha only. The two protocols are the same messages under two
package names, so the same servicer answers both: a v1 request's bytes decode as the
v1alpha message they equal, and the answer's bytes are the v1 answer. The v1 file is
added to the descriptor pool too (v1alpha's, renamed), so a client can describe it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

V1ALPHA_PACKAGE: Final = "grpc.reflection.v1alpha"
V1_PACKAGE: Final = "grpc.reflection.v1"
V1_FILE: Final = "grpc/reflection/v1/reflection.proto"
V1_SERVICE_NAME: Final = f"{V1_PACKAGE}.ServerReflection"
V1ALPHA_SERVICE_NAME: Final = reflection.SERVICE_NAME


def add_reflection(services: Iterable[str], server: Any) -> None:
    """Serve reflection of ``services`` (and of both reflection services) on ``server``
    (a grpc.aio.Server, or a registrar standing in for it)."""
    _add_v1_file(descriptor_pool.Default())
    names = [*services, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME]
    servicer = reflection.aio.ReflectionServicer(names)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1 = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(V1_SERVICE_NAME, {"ServerReflectionInfo": v1}),)
    )


def _add_v1_file(pool: descriptor_pool.DescriptorPool) -> None:
    """grpc/reflection/v1/reflection.proto in ``pool``: v1alpha's file under v1's names."""
    try:
        pool.FindFileByName(V1_FILE)
        return
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name = V1_FILE
    proto.package = V1_PACKAGE
    old, new = f".{V1ALPHA_PACKAGE}.", f".{V1_PACKAGE}."
    for message in proto.message_type:
        for message_field in message.field:
            if message_field.HasField("type_name"):
                message_field.type_name = message_field.type_name.replace(old, new)
    for service in proto.service:
        for method in service.method:
            method.input_type = method.input_type.replace(old, new)
            method.output_type = method.output_type.replace(old, new)
    pool.Add(proto)

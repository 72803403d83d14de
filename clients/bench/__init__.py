"""oms-bench: the OMS load generator and benchmark (see ``clients.bench.main``)."""

import os

# oms-bench forks subprocesses while gRPC runs; it needs no gRPC fork handlers (and
# their log lines). Read by grpc when first imported, so set before any import of it.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")

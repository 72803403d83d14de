"""The domain model: plain Python, no grpc, nats or sqlalchemy.

Orders, the order state machine, exact decimal arithmetic and instruments live here
so they can be tested without I/O. Adapters translate to and from this model at the edge.
"""

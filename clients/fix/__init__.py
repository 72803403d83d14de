"""The FIX 4.4 order-entry gateway and drop copy: a client of the OMS's public gRPC API.

``FixGateway`` (gateway.py) accepts FIX sessions (QuickFIX, one acceptor per client
CompID behind one listening port) and trades through the API with each session's bearer
token. Run it with ``oms fix``; ``oms up`` starts one on OMS_FIX_ADDR.
"""

"""The OMS: gRPC servicers, the order engine, risk checks and persistence."""

"""The gRPC edge: servicers, auth, error mapping and proto <-> domain translation."""

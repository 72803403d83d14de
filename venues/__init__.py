"""Venues: the NATS wire protocol, the OMS-side connector and the venue simulator."""

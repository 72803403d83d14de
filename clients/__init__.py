"""Clients: the Python SDK, omsctl and oms-bench."""

"""The benchmark scenarios: baseline, submit, e2e, sustained and fanout."""

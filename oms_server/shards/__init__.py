"""Account shards behind one endpoint: shard processes, their standbys, the front.

- ``announce``: every shard process says who it is, several times a second, on core
  NATS (``oms.shards.<id>.status``); the front and the standbys listen (``ShardWatch``).
- ``takeover``: a standby waits on its shard's store lease and takes over when the
  owner is gone (its lock freed, or its announcements silent for long: ``seize``).
- ``process``: one shard process (`oms shard`), owner or standby: today's OMS on the
  shard's own store, its own NATS consumer, order ids that name the shard.
- ``front``: the stateless gRPC front (`oms front`) on the public endpoint.
- ``stack``: what `oms up --shards N [--standby] [--nats-cluster 3]` runs.
"""

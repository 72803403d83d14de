"""What one oms-bench run does: scenarios, load parameters, where the system is."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from clients.bench.orders import OrderShape

SCENARIOS = ("baseline", "submit", "stream-submit", "fix", "e2e", "capacity", "sustained", "fanout")

#: The parameters the issue's targets are stated at.
STANDARD_CONCURRENCY = 50
STANDARD_E2E_RATE = 500.0
STANDARD_SUSTAINED_RATE = 1000.0
#: Issue 25's light load: e2e at this rate beside the echo at the same rate.
STANDARD_E2E_LIGHT_RATE = 100.0
#: Issue 25's sustained run: this share of the capacity the same run found.
SUSTAINED_SHARE_OF_CAPACITY = 0.8
STANDARD_SUSTAINED_S = 60.0
STANDARD_SUBSCRIBERS = 50
#: `stream-submit`: submits each client keeps in flight on its stream.
DEFAULT_STREAM_WINDOW = 4
#: `capacity`: market orders the peer (NautilusTrader, in process) is measured over.
DEFAULT_PEER_ORDERS = 5000


@dataclass(frozen=True, slots=True)
class LoadParams:
    """Load sizes and durations (seconds); ``quick()`` shortens a run to about a minute."""

    concurrency: int = STANDARD_CONCURRENCY
    #: Each closed-loop phase: baseline, submit, fanout without and with subscribers.
    duration_s: float = 10.0
    #: Unrecorded load before each measured phase (connections, caches, JIT-free warm-up).
    warmup_s: float = 1.0
    e2e_rate: float = STANDARD_E2E_RATE
    e2e_duration_s: float = 20.0
    #: e2e's second, light rate (0: none), its latency compared with the echo's there.
    e2e_light_rate: float = STANDARD_E2E_LIGHT_RATE
    #: None: SUSTAINED_SHARE_OF_CAPACITY of what `capacity` found earlier in the run,
    #: else STANDARD_SUSTAINED_RATE.
    sustained_rate: float | None = None
    sustained_duration_s: float = STANDARD_SUSTAINED_S
    #: Load before the sustained run's first memory sample: long enough, at the sustained
    #: rate, to fill the server's bounded caches (recent orders, serialized reports), so
    #: the growth measured is growth, not caches warming up.
    sustained_warmup_s: float = 5.0
    subscribers: int = STANDARD_SUBSCRIBERS
    stream_window: int = DEFAULT_STREAM_WINDOW
    #: Longest wait, after the load, for final reports and for subscribers to catch up.
    settle_timeout_s: float = 60.0
    #: An open loop gives up once this many seconds of orders (at its rate) await their
    #: final report: the server fell behind for good, and more load only queues.
    max_backlog_s: float = 5.0
    #: The rate search of `capacity` and `sustained --shards`: the first offered rate, the
    #: growth from step to step, each step's length, and the most steps a search runs
    #: (100/s first: the light load `capacity` compares the CPU per order at with capacity).
    capacity_start_rate: float = 100.0
    capacity_growth: float = 1.3
    capacity_step_s: float = 4.0
    capacity_max_steps: int = 9
    peer_orders: int = DEFAULT_PEER_ORDERS

    @classmethod
    def quick(cls) -> LoadParams:
        return cls(
            duration_s=3.0,
            warmup_s=0.5,
            e2e_duration_s=5.0,
            sustained_duration_s=10.0,
            sustained_warmup_s=1.0,
            capacity_step_s=2.0,
            capacity_max_steps=5,
            peer_orders=1000,
        )

    def with_overrides(self, **overrides: object) -> LoadParams:
        """This, with every override that is not None applied."""
        known = {f.name for f in fields(self)}
        changes = {k: v for k, v in overrides.items() if k in known and v is not None}
        # Field by field the values are typed by the argparse options of the same name.
        return replace(self, **changes)  # type: ignore[arg-type]

    def is_standard(self) -> bool:
        """True when the targets' parameters are in force (rates, concurrency, 60 s, 50 subs)."""
        return (
            self.concurrency == STANDARD_CONCURRENCY
            and self.e2e_rate == STANDARD_E2E_RATE
            and self.sustained_rate is None
            and self.sustained_duration_s == STANDARD_SUSTAINED_S
            and self.subscribers == STANDARD_SUBSCRIBERS
        )


#: Host names of a ``--target`` on this machine.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, slots=True)
class ExternalTarget:
    """A stack that is already running (``--target``); oms-bench starts nothing of it."""

    address: str
    token: str
    nats_url: str | None = None
    server_pid: int | None = None


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """Everything a run needs."""

    scenarios: tuple[str, ...]
    load: LoadParams = field(default_factory=LoadParams)
    shape: OrderShape = field(default_factory=OrderShape)
    scenario_file: Path | None = None
    external: ExternalTarget | None = None
    profile_dir: Path | None = None
    quick: bool = False
    #: Run NATS, each venue and the OMS as separate processes instead of one `oms up`.
    venues_apart: bool = True
    #: `sustained --shards`: the shard counts whose sustainable rate this run finds.
    shards: tuple[int, ...] = ()

    @property
    def clock_shared(self) -> bool:
        """True when the OMS runs on this host, so its timestamps compare with ours."""
        if self.external is None:
            return True
        host = self.external.address.rpartition(":")[0].strip("[]")
        return host in LOOPBACK_HOSTS

    def as_dict(self) -> dict[str, object]:
        return {
            "scenarios": list(self.scenarios),
            "load": asdict(self.load),
            "orders": asdict(self.shape),
            "scenario_file": str(self.scenario_file) if self.scenario_file else None,
            "target": self.external.address if self.external else "started by oms-bench",
            "quick": self.quick,
            "venues_apart": self.venues_apart,
            "shards": list(self.shards),
            "standard_parameters": self.load.is_standard(),
        }

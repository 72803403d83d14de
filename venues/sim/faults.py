"""Simulated venue faults: what share of orders and reports go wrong, drawn reproducibly.

``FaultConfig`` declares every settable rate once: the scenario's ``[venues.faults]``
keys and the run-time ``FaultSettings`` of venue.v1 are read field by field from it.
``FaultPlan`` owns the seeded random source and answers, one method per fault, whether
the fault strikes now. A rate of zero never draws, so a venue without faults draws
nothing and a run with the same seed and rates repeats the same faults.

To add a fault: a field here, a method on ``FaultPlan``, its use where the venue acts
(``venues/sim/service.py``), and a field of the same name in ``FaultSettings``
(protos/venue/v1/venue.proto) to set it at run time.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Shares in [0, 1] of new orders rejected, messages dropped, reports duplicated."""

    reject_rate: float = 0.0
    drop_rate: float = 0.0
    duplicate_exec_rate: float = 0.0

    @classmethod
    def read_from(cls, source: object) -> FaultConfig:
        """The rates ``source`` carries as attributes of the same names (a FaultSettings)."""
        return cls(**{name: float(getattr(source, name)) for name in FAULT_RATE_NAMES})


#: The name of every rate, in declaration order: the keys a scenario and a control accept.
FAULT_RATE_NAMES: tuple[str, ...] = tuple(f.name for f in fields(FaultConfig))


class FaultPlan:
    """One venue's faults: the rates in force and the random source they are drawn from."""

    def __init__(self, config: FaultConfig, seed: str) -> None:
        self._config = config
        self._rng = random.Random(seed)

    @classmethod
    def for_venue(cls, config: FaultConfig, scenario_seed: int, venue: str) -> FaultPlan:
        """The plan of ``venue`` in a scenario seeded with ``scenario_seed``."""
        return cls(config, f"{scenario_seed}:{venue}:faults")

    @property
    def config(self) -> FaultConfig:
        """The rates in force."""
        return self._config

    def reconfigure(self, config: FaultConfig) -> None:
        """Put ``config``'s rates in force; the random source goes on where it was."""
        self._config = config

    def rejects_new_order(self, is_new: Callable[[], bool]) -> bool:
        """True when a new order is to be rejected.

        ``is_new`` says whether the venue has never seen the order id; it is asked only
        when the rate is above zero. A resent order is never drawn for, so its answer
        stays what it was (idempotent).
        """
        rate = self._config.reject_rate
        return rate > 0 and is_new() and self._draw(rate)

    def drops_report(self) -> bool:
        """True when an outgoing execution report is to be lost."""
        return self._draw(self._config.drop_rate)

    def duplicates_report(self) -> bool:
        """True when an execution report is to be sent twice."""
        return self._draw(self._config.duplicate_exec_rate)

    def _draw(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

"""The fault plan: seeded draws, rates 0 and 1, and one declaration read by scenario and control."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from protos.venue.v1 import venue_pb2 as v
from venues.scenario import ScenarioError, parse_scenario
from venues.sim.faults import FAULT_RATE_NAMES, FaultConfig, FaultPlan
from venues.sim.service import VenueSimulator

SCENARIO = """
seed = 7

[[instruments]]
symbol = "AAPL"
tick_size = "0.01"
lot_size = "1"
reference_price = "190.00"

[[venues]]
name = "ALPHA"

[[venues]]
name = "BRAVO"
[venues.faults]
{faults}
"""

#: Each fault of the plan, asked the way the venue asks it (a new order id every time).
FAULTS: dict[str, Callable[[FaultPlan], bool]] = {
    "reject_rate": lambda plan: plan.rejects_new_order(lambda: True),
    "drop_rate": FaultPlan.drops_report,
    "duplicate_exec_rate": FaultPlan.duplicates_report,
}


class StubNats:
    """Enough of a NATS client to build a simulator; nothing here touches the network."""

    def jetstream(self) -> object:
        return object()


def distinct_rates() -> dict[str, float]:
    """A different rate for every field, so a field read from the wrong place shows."""
    return {name: (index + 1) / 10 for index, name in enumerate(FAULT_RATE_NAMES)}


def draws(plan: FaultPlan, rounds: int = 200) -> list[bool]:
    """Ask every fault in turn, ``rounds`` times."""
    return [ask(plan) for _ in range(rounds) for ask in FAULTS.values()]


def test_every_fault_of_the_config_has_a_method_here() -> None:
    assert tuple(FAULTS) == FAULT_RATE_NAMES


def test_the_same_seed_and_rates_give_the_same_faults() -> None:
    config = FaultConfig(**{name: 0.5 for name in FAULT_RATE_NAMES})
    first = draws(FaultPlan.for_venue(config, 7, "ALPHA"))
    assert first == draws(FaultPlan.for_venue(config, 7, "ALPHA"))
    assert first != draws(FaultPlan.for_venue(config, 7, "BRAVO"))
    assert first != draws(FaultPlan.for_venue(config, 8, "ALPHA"))
    assert any(first) and not all(first)


def test_the_plan_is_seeded_as_scenario_runs_always_were() -> None:
    plan = FaultPlan.for_venue(FaultConfig(drop_rate=0.5), 7, "ALPHA")
    rng = random.Random("7:ALPHA:faults")
    assert [plan.drops_report() for _ in range(100)] == [rng.random() < 0.5 for _ in range(100)]


@pytest.mark.parametrize("name", FAULT_RATE_NAMES)
def test_rate_zero_never_fires_and_draws_nothing(name: str) -> None:
    others = {other: 0.5 for other in FAULT_RATE_NAMES if other != name}
    plan = FaultPlan.for_venue(FaultConfig(**others, **{name: 0.0}), 7, "ALPHA")
    untouched = FaultPlan.for_venue(FaultConfig(**others, **{name: 0.0}), 7, "ALPHA")
    assert not any(FAULTS[name](plan) for _ in range(1000))
    assert draws(plan) == draws(untouched)  # the zero-rate fault drew nothing


@pytest.mark.parametrize("name", FAULT_RATE_NAMES)
def test_rate_one_always_fires(name: str) -> None:
    plan = FaultPlan.for_venue(FaultConfig(**{name: 1.0}), 7, "ALPHA")
    assert all(FAULTS[name](plan) for _ in range(1000))


def test_an_order_id_seen_before_is_never_rejected_nor_drawn_for() -> None:
    plan = FaultPlan.for_venue(FaultConfig(reject_rate=1.0), 7, "ALPHA")
    assert not plan.rejects_new_order(lambda: False)
    asked: list[str] = []

    def is_new() -> bool:
        asked.append("looked up")
        return True

    quiet = FaultPlan.for_venue(FaultConfig(), 7, "ALPHA")
    assert not quiet.rejects_new_order(is_new)
    assert asked == []  # a venue without the fault does not even look the id up


def test_reconfiguring_changes_the_rates_and_keeps_the_random_source() -> None:
    plan = FaultPlan.for_venue(FaultConfig(drop_rate=0.5), 7, "ALPHA")
    rng = random.Random("7:ALPHA:faults")
    assert plan.drops_report() is (rng.random() < 0.5)
    plan.reconfigure(FaultConfig(drop_rate=0.25))
    assert plan.config == FaultConfig(drop_rate=0.25)
    assert [plan.drops_report() for _ in range(50)] == [rng.random() < 0.25 for _ in range(50)]


def test_a_control_message_updates_every_field() -> None:
    scenario = parse_scenario(SCENARIO.format(faults=""), "test")
    sim = VenueSimulator(StubNats(), scenario, scenario.venues[0])  # type: ignore[arg-type]
    rates = distinct_rates()
    sim.apply_control(v.SimulatorControl(faults=v.FaultSettings(**rates)))
    assert sim.faults.config == FaultConfig(**rates)
    sim.apply_control(v.SimulatorControl(dark_for_ms=1))
    assert sim.faults.config == FaultConfig(**rates)  # no faults in the message: kept


def test_the_scenario_accepts_exactly_the_fields_of_the_config() -> None:
    rates = distinct_rates()
    table = "\n".join(f"{name} = {rate}" for name, rate in rates.items())
    scenario = parse_scenario(SCENARIO.format(faults=table), "test")
    assert scenario.venues[1].faults == FaultConfig(**rates)
    assert scenario.venues[0].faults == FaultConfig()


@pytest.mark.parametrize("key", ["reject_ratio", "dark_rate", "faults"])
def test_the_scenario_refuses_any_other_fault_key_naming_its_path(key: str) -> None:
    with pytest.raises(ScenarioError) as raised:
        parse_scenario(SCENARIO.format(faults=f"{key} = 0.1"), "mine.toml")
    assert raised.value.path == f"venues[1].faults.{key}"
    assert str(raised.value).startswith(f"scenario: mine.toml: venues[1].faults.{key}: unknown key")
    for name in FAULT_RATE_NAMES:
        assert name in raised.value.description  # the message lists what is accepted

"""What a venue connector reports of its venues' health, whatever their transport."""

from __future__ import annotations

from collections.abc import Mapping

from oms_server.engine.ports import VenueStatus
from router.circuit_breaker import CircuitBreaker
from venues.scenario import VenueConfig


def venue_statuses(
    configs: Mapping[str, VenueConfig], breakers: Mapping[str, CircuitBreaker]
) -> list[VenueStatus]:
    """Every configured venue with its circuit-breaker state and fees."""
    return [
        VenueStatus(
            name=name,
            breaker=breakers[name].state,
            consecutive_failures=breakers[name].consecutive_failures,
            taker_fee_bps=config.taker_fee_bps,
            maker_rebate_bps=config.maker_rebate_bps,
        )
        for name, config in configs.items()
    ]

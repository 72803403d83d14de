"""Admission of calls: caps that no client can use to starve the others.

grpc's own ``maximum_concurrent_rpcs`` counts every call, health and reflection and
unauthenticated streams included, so idle streams anyone can open took every slot. Here
calls are counted only once they are authenticated; public (health, reflection) unary
calls are never counted; public streams have their own small caps. Streams are also
capped per principal and per peer host, so one trader or one machine cannot hold them all.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from oms_server.domain.errors import ResourceExhaustedError

#: Authenticated calls (unary and streams) served at once.
DEFAULT_MAX_CALLS = 1000
#: Streams one principal (token subject) may hold open at once.
DEFAULT_MAX_STREAMS_PER_PRINCIPAL = 64
#: Authenticated streams one peer host may hold open at once.
DEFAULT_MAX_STREAMS_PER_PEER = 256
#: Public (unauthenticated) streams, e.g. health Watch, one peer host may hold open.
DEFAULT_MAX_PUBLIC_STREAMS_PER_PEER = 16
#: Public streams held open at once by everyone.
DEFAULT_MAX_PUBLIC_STREAMS = 256


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    """The caps; each refusal names the one it hit."""

    max_calls: int = DEFAULT_MAX_CALLS
    max_streams_per_principal: int = DEFAULT_MAX_STREAMS_PER_PRINCIPAL
    max_streams_per_peer: int = DEFAULT_MAX_STREAMS_PER_PEER
    max_public_streams_per_peer: int = DEFAULT_MAX_PUBLIC_STREAMS_PER_PEER
    max_public_streams: int = DEFAULT_MAX_PUBLIC_STREAMS


def peer_host(peer: str) -> str:
    """The host of a grpc peer string (``ipv4:1.2.3.4:5678`` -> ``ipv4:1.2.3.4``)."""
    host, _, port = peer.rpartition(":")
    return host if host and port.isdigit() else peer


class Admission:
    """Counts calls and streams in flight and refuses those past a cap."""

    def __init__(self, limits: AdmissionLimits | None = None) -> None:
        self.limits = limits or AdmissionLimits()
        self._calls = 0
        self._public = 0
        self._streams_by_principal: Counter[str] = Counter()
        self._streams_by_peer: Counter[str] = Counter()
        self._public_by_peer: Counter[str] = Counter()
        self.refused = 0

    @property
    def calls(self) -> int:
        return self._calls

    @contextlib.contextmanager
    def call(self) -> Iterator[None]:
        """An authenticated unary call."""
        self._check(self._calls < self.limits.max_calls, "max_calls", self.limits.max_calls)
        self._calls += 1
        try:
            yield
        finally:
            self._calls -= 1

    @contextlib.contextmanager
    def stream(self, principal: str, peer: str) -> Iterator[None]:
        """An authenticated stream of ``principal`` from ``peer`` (grpc's peer string)."""
        host, limits = peer_host(peer), self.limits
        self._check(
            self._streams_by_principal[principal] < limits.max_streams_per_principal,
            "max_streams_per_principal",
            limits.max_streams_per_principal,
        )
        self._check(
            self._streams_by_peer[host] < limits.max_streams_per_peer,
            "max_streams_per_peer",
            limits.max_streams_per_peer,
        )
        with self.call():
            self._streams_by_principal[principal] += 1
            self._streams_by_peer[host] += 1
            try:
                yield
            finally:
                _decrement(self._streams_by_principal, principal)
                _decrement(self._streams_by_peer, host)

    @contextlib.contextmanager
    def public_stream(self, peer: str) -> Iterator[None]:
        """A stream of a public service (no token) from ``peer``."""
        host, limits = peer_host(peer), self.limits
        self._check(
            self._public_by_peer[host] < limits.max_public_streams_per_peer,
            "max_public_streams_per_peer",
            limits.max_public_streams_per_peer,
        )
        self._check(
            self._public < limits.max_public_streams,
            "max_public_streams",
            limits.max_public_streams,
        )
        self._public += 1
        self._public_by_peer[host] += 1
        try:
            yield
        finally:
            self._public -= 1
            _decrement(self._public_by_peer, host)

    def _check(self, admitted: bool, cap: str, value: int) -> None:
        if not admitted:
            self.refused += 1
            raise ResourceExhaustedError(
                f"too many calls in flight: {cap}={value} reached; retry later",
                reason=cap.upper(),
            )


def _decrement(counter: Counter[str], key: str) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]

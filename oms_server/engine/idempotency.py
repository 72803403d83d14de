"""Idempotency: one order per (account, client_order_id), however often it is retried.

Recent keys are held exactly, older ones in a filter (see client_ids). When only the
store can tell whether a key is taken, a command raises a *signal* (not an OmsError:
it is no refusal); the engine's facade reads the store and runs the command again.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from oms_server.domain.duplicates import retried_submit
from oms_server.domain.errors import AlreadyExistsError
from oms_server.domain.order import Order, OrderRequest
from oms_server.engine.client_ids import DEFAULT_KEPT, ClientOrderIds, Key
from oms_server.engine.live_orders import LiveOrders

#: Idempotency keys kept exactly in memory; older ones are checked against the store.
CLIENT_IDS_KEPT = DEFAULT_KEPT


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """The store held no order for ``key`` when ``evictions`` eviction passes had happened."""

    key: Key
    evictions: int


class StoreLookupNeeded(Exception):
    """A command needs something only the store knows; the facade reads it and retries."""


class NeedsKeyLookup(StoreLookupNeeded):
    """An idempotency key is not among the recent keys and may be stored."""

    def __init__(self, key: Key) -> None:
        super().__init__(f"client_order_id {key[1]!r} needs a store lookup")
        self.key = key


class NeedsStoreRead(StoreLookupNeeded):
    """An idempotent retry refers to a stored order no longer in memory: the facade
    reads it and answers with ``then(order)``, as the command would have."""

    def __init__(self, order_id: str, then: Callable[[Order], Order]) -> None:
        super().__init__(f"order {order_id} is in the store")
        self.order_id = order_id
        self.then = then


class Idempotency:
    """The key index and the rules of a retried submit or replace."""

    def __init__(self, live: LiveOrders, kept: int | None = None) -> None:
        self.keys = ClientOrderIds(CLIENT_IDS_KEPT if kept is None else kept)
        self._live = live
        #: Ids announced for pending replaces -> the order being replaced: their keys
        #: are taken, though no order has the id yet.
        self._reserved: dict[str, str] = {}

    def existing_submit(self, request: OrderRequest, checked: KeyCheck | None) -> Order | None:
        """The order a retried submit refers to, or None for a key that is surely new.

        A reused key with other terms is refused (DuplicateClientOrderIdError).
        """
        key = (request.account_id, request.client_order_id)
        existing_id = self.keys.get(key)
        if existing_id is not None:
            return self.existing_order(existing_id, lambda order: retried_submit(order, request))
        self.require_new(key, checked)
        return None

    def require_new(self, key: Key, checked: KeyCheck | None) -> None:
        """Raise NeedsKeyLookup unless ``key`` (not among the recent keys) is surely new."""
        if not self.keys.may_be_older(key):
            return
        if checked is not None and checked.key == key and checked.evictions == self.keys.evictions:
            return
        raise NeedsKeyLookup(key)

    def existing_order(
        self, order_id: str, then: Callable[[Order], Order] = lambda order: order
    ) -> Order:
        """``then`` of a copy of the order, here or (through NeedsStoreRead) from the store."""
        order = self._live.get(order_id)
        if order is not None:
            return then(copy.copy(order))
        replaced = self._reserved.get(order_id)
        if replaced is not None:
            raise AlreadyExistsError(
                f"client_order_id is already used by the pending replace of order {replaced}",
                reason="DUPLICATE_CLIENT_ORDER_ID",
            )
        raise NeedsStoreRead(order_id, then)

    def add(self, key: Key, order_id: str) -> None:
        self.keys.add(key, order_id)

    def reserve(self, key: Key, order_id: str, replaced_order_id: str) -> None:
        """Take ``key`` for the order a pending replace of ``replaced_order_id`` will make."""
        self.keys.add(key, order_id)
        self._reserved[order_id] = replaced_order_id

    def release(self, order_id: str) -> None:
        """The pending replace that reserved ``order_id`` ended (made it, or not)."""
        self._reserved.pop(order_id, None)

    def discard(self, key: Key) -> None:
        self.keys.discard(key)


def earlier_replacement(existing: Order, order_id: str, client_order_id: str) -> Order:
    """``existing`` if it replaced ``order_id`` (a retried replace); else ALREADY_EXISTS."""
    if existing.replaces_order_id == order_id:
        return existing
    raise AlreadyExistsError(
        f"client_order_id {client_order_id!r} is already used by order {existing.order_id}",
        reason="DUPLICATE_CLIENT_ORDER_ID",
    )

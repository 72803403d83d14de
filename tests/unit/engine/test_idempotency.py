"""Idempotency: a retried key finds its order; only the store can tell about evicted keys."""

from __future__ import annotations

import pytest

from oms_server.domain.duplicates import DuplicateClientOrderIdError
from oms_server.domain.enums import Side
from oms_server.domain.errors import AlreadyExistsError, OmsError
from oms_server.domain.order import Order
from oms_server.engine.idempotency import (
    Idempotency,
    KeyCheck,
    NeedsKeyLookup,
    NeedsStoreRead,
    StoreLookupNeeded,
    earlier_replacement,
)
from oms_server.engine.live_orders import LiveOrders
from tests.unit.engine.stubs import order, request


def keys_with(*orders: Order, kept: int = 100) -> Idempotency:
    """An index holding each order's key; the orders are working."""
    live = LiveOrders()
    keys = Idempotency(live, kept=kept)
    for held in orders:
        live.add(held)
        keys.add((held.account_id, held.client_order_id), held.order_id)
    return keys


def evicted(kept: int = 1) -> Idempotency:
    """An index whose key ("A", "c1") was evicted into the filter by a newer key."""
    keys = Idempotency(LiveOrders(), kept=kept)
    keys.add(("A", "c1"), "o1")
    keys.add(("A", "c2"), "o2")
    assert keys.keys.get(("A", "c1")) is None
    return keys


def test_a_fresh_key_is_new_without_a_store_read() -> None:
    assert keys_with(order("o1")).existing_submit(request("c2"), None) is None


def test_a_retried_submit_gets_a_copy_of_its_order() -> None:
    o1 = order("o1", client_order_id="c1")
    existing = keys_with(o1).existing_submit(request("c1"), None)
    assert existing == o1 and existing is not o1


def test_the_same_client_order_id_of_another_account_is_another_key() -> None:
    keys = keys_with(order("o1", client_order_id="c1"))
    assert keys.existing_submit(request("c1", account_id="B"), None) is None


def test_a_retry_of_an_order_no_longer_in_memory_asks_for_a_store_read() -> None:
    keys = Idempotency(LiveOrders())
    keys.add(("A", "c1"), "o1")
    with pytest.raises(NeedsStoreRead) as needed:
        keys.existing_submit(request("c1"), None)
    assert needed.value.order_id == "o1"
    stored = order("o1", client_order_id="c1")
    assert needed.value.then(stored) is stored  # a submit answers with the stored order


def test_a_store_read_answers_as_the_command_would() -> None:
    keys = Idempotency(LiveOrders())
    with pytest.raises(NeedsStoreRead) as needed:
        keys.existing_order("o9", lambda found: order(f"{found.order_id}-seen"))
    assert needed.value.then(order("o9")).order_id == "o9-seen"


def test_an_evicted_key_needs_a_lookup() -> None:
    keys = evicted()
    with pytest.raises(NeedsKeyLookup) as needed:
        keys.existing_submit(request("c1"), None)
    assert needed.value.key == ("A", "c1")


def test_a_lookup_made_since_the_last_eviction_settles_the_key() -> None:
    keys = evicted()
    checked = KeyCheck(("A", "c1"), keys.keys.evictions)
    assert keys.existing_submit(request("c1"), checked) is None


@pytest.mark.parametrize(
    "checked",
    [
        KeyCheck(("A", "c1"), evictions=0),  # looked up before keys moved to the filter
        KeyCheck(("A", "other"), evictions=1),  # another key's answer
    ],
    ids=["stale", "another-key"],
)
def test_a_lookup_that_does_not_match_asks_again(checked: KeyCheck) -> None:
    keys = evicted()
    assert keys.keys.evictions == 1
    with pytest.raises(NeedsKeyLookup):
        keys.require_new(("A", "c1"), checked)


def test_a_key_the_filter_does_not_hold_needs_no_lookup_even_after_evictions() -> None:
    keys = evicted()
    keys.require_new(("A", "never-used"), None)


def test_a_discarded_key_is_new_again() -> None:
    keys = keys_with(order("o1", client_order_id="c1"))
    keys.discard(("A", "c1"))
    assert keys.existing_submit(request("c1"), None) is None


@pytest.mark.parametrize("signal", [NeedsKeyLookup, NeedsStoreRead])
def test_store_signals_are_no_refusals(signal: type[StoreLookupNeeded]) -> None:
    assert issubclass(signal, StoreLookupNeeded)
    assert not issubclass(signal, OmsError)  # the writer does not count them as refused


def test_a_retried_replace_gets_the_order_that_replaced_the_original() -> None:
    replacement = order("o2", client_order_id="r1", replaces_order_id="o1")
    assert earlier_replacement(replacement, "o1", "r1") is replacement


def test_a_replace_reusing_another_orders_key_already_exists() -> None:
    other = order("o7", client_order_id="r1", replaces_order_id="")
    with pytest.raises(AlreadyExistsError) as refused:
        earlier_replacement(other, "o1", "r1")
    assert refused.value.reason == "DUPLICATE_CLIENT_ORDER_ID"
    assert "o7" in refused.value.message


def test_a_reused_key_with_other_terms_is_refused_from_memory() -> None:
    keys = keys_with(order("o1", client_order_id="c1"))
    with pytest.raises(DuplicateClientOrderIdError) as refused:
        keys.existing_submit(request("c1", quantity=7), None)
    assert (refused.value.order_id, refused.value.term) == ("o1", "quantity")


def test_a_reused_key_with_other_terms_is_refused_after_a_store_read() -> None:
    keys = Idempotency(LiveOrders())
    keys.add(("A", "c1"), "o1")
    with pytest.raises(NeedsStoreRead) as needed:
        keys.existing_submit(request("c1", side=Side.SELL), None)
    with pytest.raises(DuplicateClientOrderIdError) as refused:
        needed.value.then(order("o1", client_order_id="c1"))
    assert refused.value.term == "side"

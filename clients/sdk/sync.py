"""A blocking facade over ``OmsClient``: an event loop runs in a background thread.

Every method has the signature of its async twin and blocks for the result; the
streaming ones (``reports``, ``stream_quotes``, ``iter_orders``, ``order_entry``) return
plain iterators; ``order_entry`` takes a list (or an iterator that never blocks) of
requests. The futures of ``OmsClient.open_order_entry`` have no blocking twin.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Concatenate, ParamSpec, TypeVar

from clients.sdk.client import OmsClient

P = ParamSpec("P")
T = TypeVar("T")

#: Seconds ``close`` waits for the loop thread to finish.
CLOSE_TIMEOUT_S = 5.0


def _blocking(
    method: Callable[Concatenate[OmsClient, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[SyncOmsClient, P], T]:
    def call(self: SyncOmsClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(method(self._client, *args, **kwargs))

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


def _iterating(
    method: Callable[Concatenate[OmsClient, P], AsyncGenerator[T, None]],
) -> Callable[Concatenate[SyncOmsClient, P], Iterator[T]]:
    def call(self: SyncOmsClient, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        return self._iterate(method(self._client, *args, **kwargs))

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


class SyncOmsClient:
    """Blocking OMS client; takes the same arguments as ``OmsClient``. Use it as a
    context manager or call ``close``."""

    def __init__(self, target: str, token: str, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="oms-client-loop", daemon=True
        )
        self._thread.start()
        try:
            self._client: OmsClient = self._run(_make_client(target, token, options))
        except BaseException:
            self._stop_loop()
            raise

    def __enter__(self) -> SyncOmsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel and stop the loop thread."""
        if self._loop.is_closed():
            return
        try:
            self._run(self._client.close())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CLOSE_TIMEOUT_S)
        self._loop.close()

    submit_order = _blocking(OmsClient.submit_order)
    submit_order_list = _blocking(OmsClient.submit_order_list)
    cancel_order = _blocking(OmsClient.cancel_order)
    replace_order = _blocking(OmsClient.replace_order)
    get_order = _blocking(OmsClient.get_order)
    list_orders = _blocking(OmsClient.list_orders)
    iter_orders = _iterating(OmsClient.iter_orders)
    get_order_events = _blocking(OmsClient.get_order_events)
    cancel_all_orders = _blocking(OmsClient.cancel_all_orders)
    list_executions = _blocking(OmsClient.list_executions)
    iter_executions = _iterating(OmsClient.iter_executions)
    reports = _iterating(OmsClient.reports)
    order_entry = _iterating(OmsClient.order_entry)
    create_account = _blocking(OmsClient.create_account)
    deposit = _blocking(OmsClient.deposit)
    get_account = _blocking(OmsClient.get_account)
    set_risk_limits = _blocking(OmsClient.set_risk_limits)
    list_instruments = _blocking(OmsClient.list_instruments)
    get_quote = _blocking(OmsClient.get_quote)
    stream_quotes = _iterating(OmsClient.stream_quotes)
    halt = _blocking(OmsClient.halt)
    resume = _blocking(OmsClient.resume)
    list_venues = _blocking(OmsClient.list_venues)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _iterate(self, agen: AsyncGenerator[T, None]) -> Iterator[T]:
        try:
            while True:
                try:
                    yield self._run(_next(agen))
                except StopAsyncIteration:
                    return
        finally:
            if not self._loop.is_closed():
                self._run(agen.aclose())


async def _make_client(target: str, token: str, options: dict[str, Any]) -> OmsClient:
    return OmsClient(target, token, **options)


async def _next(agen: AsyncIterator[T]) -> T:
    return await agen.__anext__()

"""Calls made at about the same time share one: callers hand in keys, one call answers them all.

A call waits at most `window` seconds for company and goes as soon as the next caller would take
it past `size` keys (a caller's keys are never split between calls; one caller with more goes
alone, and its call splits them as it must). Every caller gets the answers for the keys it asked
for; a failed call fails every caller that shared it (each then fails as it would have alone); a
cancelled caller takes no one with it. Bound to one event loop (its owner keeps one per loop).
The shared call runs in the context (trace) of the caller that filled it or started its wait.

Used by the Graph gateway (identity and team-name look-ups, `$batch` parts: shared/graph/) and
the Commerce client (team-mapping creates in OData `$batch` calls: shared/commerce/batch.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class Coalesced(Generic[V]):
    def __init__(
        self,
        look_up: Callable[[list[str]], Coroutine[Any, Any, dict[str, V]]],
        *,
        size: int,
        window: float = 0.005,
    ) -> None:
        self._look_up = look_up
        self._window = window
        self._size = size
        self._keys: dict[str, None] = {}  # an ordered set
        self._waiters: list[tuple[list[str], asyncio.Future[dict[str, V]]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[dict[str, V]]] = set()

    async def get(self, keys: Iterable[str]) -> dict[str, V]:
        """key -> answer for each of `keys` the look-up answered."""
        wanted = list(dict.fromkeys(k for k in keys if k))
        if not wanted:
            return {}
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, V]] = loop.create_future()
        if self._keys and len(self._keys) + sum(k not in self._keys for k in wanted) > self._size:
            self._flush()  # what waits fills a call: it goes, and this caller starts the next
        self._waiters.append((wanted, future))
        self._keys.update(dict.fromkeys(wanted))
        if len(self._keys) >= self._size:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self._window, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiters, keys = self._waiters, list(self._keys)
        self._waiters, self._keys = [], {}
        if not waiters:
            return
        task = asyncio.get_running_loop().create_task(self._look_up(keys))
        self._running.add(task)

        def hand_out(done: asyncio.Task[dict[str, V]]) -> None:
            self._running.discard(done)
            failure = None if done.cancelled() else done.exception()
            for wanted, future in waiters:
                if future.done():  # its caller was cancelled
                    continue
                if done.cancelled():
                    future.cancel()
                elif failure is not None:
                    future.set_exception(failure)
                else:
                    found = done.result()
                    future.set_result({k: found[k] for k in wanted if k in found})

        task.add_done_callback(hand_out)

"""The request queue of one feature: counted requests per key, over the app's state store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Protocol

from shared.spine.feature import Feature


class RequestStore(Protocol):
    """What the queue needs from the state store (`shared.state.StateStore` has it, on SQLite and
    Azure Tables): one counter row per key in a partition -- `requested` counts requests, `done`
    is the highest request number a finished pass covered -- and named leases."""

    async def count_request(self, partition: str, key: str) -> int: ...

    async def count_request_checking(
        self, partition: str, key: str, recheck: timedelta | None
    ) -> tuple[int, bool]: ...

    async def requests_counted(self, partition: str, key: str) -> int: ...

    async def finish_requests(self, partition: str, key: str, covered: int) -> bool: ...

    async def pending_requests(self, partition: str) -> list[str]: ...

    async def acquire_lease(self, name: str, owner: str, ttl: timedelta) -> bool: ...

    async def release_lease(self, name: str, owner: str) -> None: ...

    async def bump(self, counter: str, by: int = 1) -> None: ...


class RequestQueue:
    def __init__(self, store: RequestStore, feature: Feature) -> None:
        self.store = store
        self.feature = feature

    async def request(self, key: str) -> int:
        """Count one more request for `key`; returns its request number."""
        return await self.store.count_request(self.feature.partition, key)

    async def request_checking(self, key: str, recheck: timedelta | None) -> tuple[int, bool]:
        """`request`, and whether this caller must make sure the key's orchestration runs: not
        when an earlier request is still uncovered and its requester checked less than
        `recheck` ago (the pass that covers that one covers this one too)."""
        return await self.store.count_request_checking(self.feature.partition, key, recheck)

    async def seen(self, key: str) -> int:
        """The request number a pass starting now covers (every request made before it)."""
        return await self.store.requests_counted(self.feature.partition, key)

    async def finish(self, key: str, covered: int) -> bool:
        """Mark requests up to `covered` done; True if more arrived meanwhile: run one more pass."""
        return await self.store.finish_requests(self.feature.partition, key, covered)

    async def pending(self) -> list[str]:
        """Keys with requests no pass has covered yet (the sweeper starts them)."""
        return await self.store.pending_requests(self.feature.partition)

    async def bump_started(self, by: int) -> None:
        if self.feature.started_counter and by:
            await self.store.bump(self.feature.started_counter, by)

    @asynccontextmanager
    async def lease(self, key: str, owner: str) -> AsyncIterator[bool]:
        """Hold the key's lease for the block (yields False, holding nothing, if another owner has
        it). Without `feature.lease_ttl` there is no lease: always True."""
        ttl = self.feature.lease_ttl
        if ttl is None:
            yield True
            return
        if not await self.store.acquire_lease(key, owner, ttl):
            yield False
            return
        try:
            yield True
        finally:
            await self.store.release_lease(key, owner)

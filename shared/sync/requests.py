"""Requesting a team's sync: one orchestration per team at a time, and nothing lost.

Every event, webhook notification or operator request for a team goes through `request_sync`:
1. the request is counted in the state store (`StateStore.request_sync`), *then*
2. the team's orchestration (deterministic instance id) is started if it is not running.
A pass records which request number it covered; when it ends, `StateStore.finish_pass` says
whether requests arrived meanwhile, and the orchestration runs exactly one more pass
(`continue_as_new`). A request that races the orchestration's completion is still counted, and
the sweeper timer (`StateStore.pending_syncs`) restarts any team left with uncovered requests —
so a change can be delayed by one sweep, never lost. A burst of events for one team collapses
into at most two passes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from shared.domain.ids import durable_id
from shared.domain.teams import TeamKey
from shared.state import StateStore

SYNC_ORCHESTRATOR = "sync_team"
ACTIVE_STATUSES = frozenset({"Running", "Pending", "ContinuedAsNew"})


class OrchestrationClient(Protocol):
    """What request_sync needs from Durable's client (adapted in functions/ from
    `DurableOrchestrationClient`, whose import is not allowed in shared/)."""

    async def runtime_status(self, instance_id: str) -> str | None: ...

    async def start_new(self, orchestrator: str, instance_id: str, input: Any) -> None: ...

    async def last_updated(self, instance_id: str) -> datetime | None: ...


def instance_id(key: TeamKey) -> str:
    """`sync-store-0042`: stable per team, Durable-safe, and distinct for distinct keys (`00/42`,
    `00_42` and `00\x0042` once all gave `sync-store-00_42`): `shared.domain.ids.durable_id`.
    The kind is a word without '-', so `<kind>-<id>` is unambiguous."""
    return durable_id("sync-", f"{key.kind.value}-{key.id}")


async def request_sync(key: TeamKey, client: OrchestrationClient, state: StateStore, *, reason: str) -> str:
    """Make sure `key` gets a sync pass that starts after this call; returns what was done."""
    await state.request_sync(str(key))
    iid = instance_id(key)
    for _ in range(3):
        if await client.runtime_status(iid) in ACTIVE_STATUSES:
            return "pending"  # the running orchestration sees the count when its pass ends
        try:
            await client.start_new(SYNC_ORCHESTRATOR, iid, {"key": str(key), "reason": reason})
            return "started"
        except Exception:  # refused: started by a concurrent request, or finishing right now
            continue
    # Still refused: the request stays counted, so the sweeper will start the sync.
    return "pending"


async def sweep(client: OrchestrationClient, state: StateStore, failed_retry_after_seconds: int) -> list[str]:
    """Start the sync of every team with requests no pass has covered and no orchestration
    running (a request that raced a completion, or a sync that failed). A failed sync is retried
    only once `failed_retry_after_seconds` have passed since it failed."""
    started: list[str] = []
    for label in await state.pending_syncs():
        key = TeamKey.parse(label)
        iid = instance_id(key)
        status = await client.runtime_status(iid)
        if status in ACTIVE_STATUSES:
            continue
        if status in ("Failed", "Terminated"):
            updated = await client.last_updated(iid)
            if (
                updated is not None
                and (datetime.now(UTC) - updated).total_seconds() < failed_retry_after_seconds
            ):
                continue
        try:
            await client.start_new(SYNC_ORCHESTRATOR, iid, {"key": label, "reason": "sweeper"})
        except Exception:  # a trigger started it meanwhile
            continue
        started.append(label)
    return started

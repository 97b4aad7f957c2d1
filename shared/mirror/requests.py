"""Requesting a pair's mirror pass: one `mirror_task` orchestration per task x store at a time, and
nothing lost -- the request-counting pattern of shared/sync/requests.py with its own counters
(`StateStore.request_mirror` / `finish_mirror_pass` / `pending_mirrors`)."""

from __future__ import annotations

from collections.abc import Iterable

from shared.mirror.keys import instance_id
from shared.state import StateStore
from shared.sync.requests import ACTIVE_STATUSES, OrchestrationClient

MIRROR_ORCHESTRATOR = "mirror_task"


async def request_mirror(key: str, client: OrchestrationClient, state: StateStore, *, reason: str) -> str:
    """Make sure `key` gets a mirror pass that starts after this call: 'started' or 'pending'."""
    await state.request_mirror(key)
    iid = instance_id(key)
    if await client.runtime_status(iid) in ACTIVE_STATUSES:
        return "pending"
    try:
        await client.start_new(MIRROR_ORCHESTRATOR, iid, {"key": key, "reason": reason})
    except Exception:  # started by a concurrent request in between: it will see our count
        if await client.runtime_status(iid) in ACTIVE_STATUSES:
            return "pending"
        raise
    return "started"


async def request_mirrors(
    keys: Iterable[str], client: OrchestrationClient, state: StateStore, *, reason: str
) -> int:
    """`request_mirror` for each key; returns how many orchestrations were started."""
    started = 0
    for key in dict.fromkeys(keys):
        if await request_mirror(key, client, state, reason=reason) == "started":
            started += 1
    if started:
        await state.bump("tasks.orchestrations_started", started)
    return started


async def sweep_mirrors(client: OrchestrationClient, state: StateStore) -> list[str]:
    """Start the mirror of every pair with requests no pass covered and no orchestration running
    (a request that raced a completion, or a failed orchestration)."""
    started: list[str] = []
    for key in await state.pending_mirrors():
        iid = instance_id(key)
        if await client.runtime_status(iid) in ACTIVE_STATUSES:
            continue
        try:
            await client.start_new(MIRROR_ORCHESTRATOR, iid, {"key": key, "reason": "sweeper"})
        except Exception:
            continue
        started.append(key)
    return started

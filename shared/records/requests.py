"""Requesting an account's records pass: one `sync_records` orchestration per account at a time,
nothing lost -- the request-counting pattern of shared/sync/requests.py (as shared/mirror/requests.py
uses it) with its own counters (`StateStore.request_records` / `finish_records_pass` /
`pending_records`). [#16's generic runner in shared/spine/ had not landed when this was written.]"""

from __future__ import annotations

import re
from collections.abc import Iterable

from shared.state import StateStore
from shared.sync.requests import ACTIVE_STATUSES, OrchestrationClient

RECORDS_ORCHESTRATOR = "sync_records"


def instance_id(key: str) -> str:
    """`records-account-<guid>`: stable per account, safe for Durable instance ids."""
    return "records-" + re.sub(r"[^A-Za-z0-9_.-]", "-", key)


async def request_records(key: str, client: OrchestrationClient, state: StateStore, *, reason: str) -> str:
    await state.request_records(key)
    iid = instance_id(key)
    if await client.runtime_status(iid) in ACTIVE_STATUSES:
        return "pending"
    try:
        await client.start_new(RECORDS_ORCHESTRATOR, iid, {"key": key, "reason": reason})
    except Exception:  # started by a concurrent request in between: it will see our count
        if await client.runtime_status(iid) in ACTIVE_STATUSES:
            return "pending"
        raise
    return "started"


async def request_many(
    keys: Iterable[str], client: OrchestrationClient, state: StateStore, *, reason: str
) -> int:
    started = 0
    for key in dict.fromkeys(keys):
        if await request_records(key, client, state, reason=reason) == "started":
            started += 1
    return started


async def sweep_records(client: OrchestrationClient, state: StateStore) -> list[str]:
    """Start the pass of every account with requests no pass covered and nothing running."""
    started: list[str] = []
    for key in await state.pending_records():
        iid = instance_id(key)
        if await client.runtime_status(iid) in ACTIVE_STATUSES:
            continue
        try:
            await client.start_new(RECORDS_ORCHESTRATOR, iid, {"key": key, "reason": "sweeper"})
        except Exception:
            continue
        started.append(key)
    return started

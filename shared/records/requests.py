"""Accounts' records passes on the spine (shared/spine): one `sync_records` orchestration per
account at a time, nothing lost. Events, channel notifications and operators request a pass with
`shared.spine.request(RECORDS, key, ...)` / `request_many`; the sweeper is
`shared.spine.sweep(RECORDS, ...)`. The pass holds the account's lease (`RECORDS.lease_ttl`), so
the nightly reconciliation and an orchestrated pass never write one account's connections at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.spine import OrchestrationClient, RequestQueue, request_many
from shared.spine.features import RECORDS
from shared.state import StateStore

RECORDS_ORCHESTRATOR = RECORDS.orchestrator


def instance_id(key: str) -> str:
    """`records-account_3A<guid>`: stable per account, Durable-safe, distinct for distinct keys."""
    return RECORDS.instance_id(key)


async def request_records(
    keys: Iterable[str], client: OrchestrationClient, state: StateStore, *, reason: str
) -> int:
    """Request the pass of each account key; returns how many orchestrations were started."""
    return await request_many(RECORDS, keys, client, RequestQueue(state, RECORDS), reason=reason)

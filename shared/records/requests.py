"""Accounts' records passes on the spine (shared/spine): one `sync_records` orchestration per
account at a time, nothing lost. Events, channel notifications and operators request a pass with
`shared.spine.request(RECORDS, key, ...)` / `request_many`; the sweeper is
`shared.spine.sweep(RECORDS, ...)`. The pass holds the account's lease (`RECORDS.lease_ttl`), so
the nightly reconciliation and an orchestrated pass never write one account's connections at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta

from shared.spine import Feature, OrchestrationClient, RequestQueue, request_many
from shared.state import StateStore

RECORDS_ORCHESTRATOR = "sync_records"


def instance_id(key: str) -> str:
    """`records-account-<guid>`: stable per account, safe for Durable instance ids."""
    return "records-" + re.sub(r"[^A-Za-z0-9_.-]", "-", key)


RECORDS = Feature(
    name="records",
    partition="records",
    orchestrator=RECORDS_ORCHESTRATOR,
    instance_prefix="records",
    pass_activity="records_pass",
    finish_activity="records_finish_pass",
    instance_ids=instance_id,
    lease_ttl=timedelta(minutes=10),
    started_counter="records.orchestrations_started",
    first_retry_ms=2_000,
)


async def request_records(
    keys: Iterable[str], client: OrchestrationClient, state: StateStore, *, reason: str
) -> int:
    """Request the pass of each account key; returns how many orchestrations were started."""
    return await request_many(RECORDS, keys, client, RequestQueue(state, RECORDS), reason=reason)

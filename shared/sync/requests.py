"""Teams on the spine (shared/spine): one `sync_team` orchestration per team at a time, nothing lost.

Every event, webhook notification or operator request for a team goes through
`shared.spine.request(TEAMS, str(key), ...)`; the sweeper is `shared.spine.sweep(TEAMS, ...)`. The
team pass holds the team's lease (`TEAMS.lease_ttl`), so the nightly reconciliation's pass and an
orchestrated pass never write the same team at once.
"""

from __future__ import annotations

from datetime import timedelta

from shared.domain.ids import durable_id
from shared.domain.teams import TeamKey
from shared.spine import Feature

SYNC_ORCHESTRATOR = "sync_team"
LEASE_TTL = timedelta(minutes=10)


def instance_id(key: TeamKey) -> str:
    """`sync-store-0042`: stable per team, Durable-safe, and distinct for distinct keys (`00/42`,
    `00_42` and `00\x0042` once all gave `sync-store-00_42`): `shared.domain.ids.durable_id`.
    The kind is a word without '-', so `<kind>-<id>` is unambiguous."""
    return durable_id("sync-", f"{key.kind.value}-{key.id}")


TEAMS = Feature(
    name="teams",
    partition="sync",
    orchestrator=SYNC_ORCHESTRATOR,
    instance_prefix="sync",
    pass_activity="sync_team_pass",
    finish_activity="sync_finish_pass",
    instance_ids=lambda label: instance_id(TeamKey.parse(label)),
    lease_ttl=LEASE_TTL,
    started_counter="orchestrations_started",
    first_retry_ms=2_000,
)

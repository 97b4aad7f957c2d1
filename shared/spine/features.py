"""The features on the spine, by name: pure data, so any package may request any feature's pass
(drift requests teams and task pairs; Commerce intake both) without importing the feature.

Adding a feature is one `Feature(...)` here, its pass in its own package, and one
`functions/spine.register(...)` call in its blueprint (see the package docstring).
"""

from __future__ import annotations

from datetime import timedelta

from shared.domain.ids import durable_id
from shared.domain.teams import TeamKey
from shared.spine.feature import Feature


def team_instance_id(key: TeamKey) -> str:
    """`sync-store-0042`: stable per team, Durable-safe, and distinct for distinct keys (`00/42`,
    `00_42` and `00\x0042` once all gave `sync-store-00_42`): `shared.domain.ids.durable_id`.
    The kind is a word without '-', so `<kind>-<id>` is unambiguous."""
    return durable_id("sync-", f"{key.kind.value}-{key.id}")


# Teams: one `sync_team` orchestration per team (shared/sync/team_pass.py is the pass). The pass
# holds the team's lease, so the nightly reconciliation's pass (run outside the orchestration)
# and an orchestrated pass never write the same team at once.
TEAMS = Feature(
    name="teams",
    partition="sync",
    orchestrator="sync_team",
    instance_prefix="sync",
    pass_activity="sync_team_pass",
    finish_activity="sync_finish_pass",
    instance_ids=lambda label: team_instance_id(TeamKey.parse(label)),
    lease_ttl=timedelta(minutes=10),
    started_counter="orchestrations_started",
    first_retry_ms=2_000,
)

# Records: one `sync_records` orchestration per account (shared/records/records_pass.py is the
# pass). The pass holds the account's lease, like teams.
RECORDS = Feature(
    name="records",
    partition="records",
    orchestrator="sync_records",
    instance_prefix="records",
    pass_activity="records_pass",
    finish_activity="records_finish_pass",
    instance_ids=lambda key: durable_id("records-", key),
    lease_ttl=timedelta(minutes=10),
    started_counter="records.orchestrations_started",
    first_retry_ms=2_000,
)
# The records pass's index: channel id -> {"key": the account pass that connected it}, read by
# drift (a channel notification requests that account's pass).
RECORDS_CHANNEL_INDEX = "records-channels"

# Task pairs: one `mirror_task` orchestration per task x store (shared/mirror/mirror_pass.py is the
# pass; instance id `mirror-TL-7_1_0042-<sha8>`). No lease: only the orchestration runs a pair.
TASK_PAIRS = Feature(
    name="tasks",
    partition="mirror",
    orchestrator="mirror_task",
    instance_prefix="mirror",
    pass_activity="mirror_task_pass",
    finish_activity="mirror_finish_pass",
    started_counter="tasks.orchestrations_started",
    first_retry_ms=1_000,
)

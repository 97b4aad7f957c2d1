"""Task pairs on the spine (shared/spine): one `mirror_task` orchestration per task x store at a
time, nothing lost. Requests go through `shared.spine.request(TASK_PAIRS, key, ...)` /
`request_many`; the sweeper is `shared.spine.sweep(TASK_PAIRS, ...)`. No lease: only the
orchestration runs a pair's pass."""

from __future__ import annotations

from shared.spine import Feature

MIRROR_ORCHESTRATOR = "mirror_task"

TASK_PAIRS = Feature(
    name="tasks",
    partition="mirror",
    orchestrator=MIRROR_ORCHESTRATOR,
    instance_prefix="mirror",
    pass_activity="mirror_task_pass",
    finish_activity="mirror_finish_pass",
    started_counter="tasks.orchestrations_started",
    first_retry_ms=1_000,
)

"""Reading both sides of a pair into `decide`'s inputs: the Commerce store task and the Planner task
as a `PlannerTaskView` (task + completedBy + details + bucket name, one `$batch` call)."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.commerce.errors import NotFound as CommerceNotFound
from shared.domain.planner import PlannerBucket
from shared.domain.task_mirror import PlannerTaskView
from shared.domain.tasks import StoreTask
from shared.mirror.keys import PairKey
from shared.mirror.ports import MirrorCommerce, PlannerGateway
from shared.tasks import PlannerSide


async def read_store_task(commerce: MirrorCommerce, key: PairKey) -> StoreTask | None:
    """The store task as Commerce has it now; None when it no longer exists."""
    try:
        return await commerce.store_task(key.task_list, key.task, key.store)
    except CommerceNotFound:
        return None


async def read_planner_task(
    gateway: PlannerGateway, task_id: str, plan_id: str, previous: PlannerSide | None
) -> tuple[PlannerTaskView | None, list[PlannerBucket]]:
    """The Planner task (None when deleted) and the plan's buckets. `observed_at` is kept from the
    status table while the ETag is the recorded one: it is when the app first saw that version."""
    bundle = await gateway.read_task_bundle(task_id, plan_id)
    if bundle is None:
        return None, []
    task, completed_by, details, buckets = bundle
    names = {b.bucket_id: b.name for b in buckets}
    same = previous is not None and previous.etag == task.etag and previous.observed_at is not None
    observed = previous.observed_at if same and previous is not None else None
    view = PlannerTaskView.of(
        task,
        observed_at=observed or datetime.now(UTC),
        bucket_name=names.get(task.bucket_id or ""),
        details=details,
        completed_by=completed_by,
    )
    return view, list(buckets)

"""Running one `Decision` against Graph and Commerce (the executor contract in shared/tasks/decide.py).

Every write sends its `if_match`; `Stale` (a 412, or a 404 on PATCH, from either side) tells the
pass to re-read and decide again. After each write the status to record takes the version the
write returned, so the next poll does not see our own write as a change (one pass saved per write).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.commerce.errors import NotFound as CommerceNotFound
from shared.commerce.errors import PreconditionFailed as CommercePreconditionFailed
from shared.commerce.mapping import UNSET
from shared.domain.planner import (
    ChecklistItem,
    PlannerBucket,
    PlannerReference,
    PlannerTask,
    PlannerTaskDetails,
    TaskDetailsFields,
    TaskFields,
)
from shared.domain.tasks import StoreTask, TaskStatus
from shared.graph.errors import NotFound as GraphNotFound
from shared.graph.errors import PreconditionFailed as GraphPreconditionFailed
from shared.mirror.ports import MirrorCommerce, PlanBuckets, PlannerGateway
from shared.tasks import (
    CommerceSide,
    CreatePlannerTask,
    Decision,
    DeletePlannerTask,
    PairStatus,
    PlannerSide,
    UpdatePlannerDetails,
    UpdatePlannerFields,
    WriteCommerceAssignee,
    WriteCommerceStatus,
    status_of,
)
from shared.tasks.fields import LINK_ALIAS


class Stale(Exception):
    """A side changed since it was read (412, or 404 on PATCH): re-read and decide again.
    `created` is the status with the id of a Planner task created before the failure (record it)."""

    def __init__(self, message: str, created: PairStatus | None = None) -> None:
        super().__init__(message)
        self.created = created


@dataclass
class Executed:
    status: PairStatus | None
    writes: int = 0
    graph_writes: list[str] = field(default_factory=list)


class Buckets:
    """The plan's buckets by name; a missing one is created on first use."""

    def __init__(self, gateway: PlanBuckets, plan_id: str, known: list[PlannerBucket] | None) -> None:
        self.gateway, self.plan_id = gateway, plan_id
        self._by_name: dict[str, str] | None = (
            None if known is None else {b.name: b.bucket_id for b in reversed(known)}
        )

    async def id_of(self, name: str) -> str:
        if self._by_name is None:
            listed = await self.gateway.list_buckets(self.plan_id)
            self._by_name = {b.name: b.bucket_id for b in reversed(listed)}
        if name not in self._by_name:
            self._by_name[name] = (await self.gateway.create_bucket(self.plan_id, name)).bucket_id
        return self._by_name[name]


def _planner_version(
    status: PairStatus | None, etag: str | None, details_etag: str | None = None
) -> PairStatus | None:
    if status is None or status.planner is None:
        return status
    update: dict[str, Any] = {}
    if etag:
        update["etag"] = etag
    if details_etag:
        update["details_etag"] = details_etag
    return status.model_copy(update={"planner": status.planner.model_copy(update=update)})


def _reference(key: str | None) -> tuple[PlannerReference, ...]:
    return (PlannerReference(key=key, alias=LINK_ALIAS),) if key else ()


def _series(status: PairStatus | None, task: PlannerTask) -> PairStatus | None:
    """Record the Planner series a task is in (from the beta answer that started it)."""
    if status is None or status.planner is None or task.recurrence is None:
        return status
    series = {"series_id": task.recurrence.series_id}
    written = status.written_planner.model_copy(update=series) if status.written_planner else None
    return status.model_copy(
        update={"planner": status.planner.model_copy(update=series), "written_planner": written}
    )


def _commerce_version(status: PairStatus | None, row: StoreTask) -> PairStatus | None:
    if status is None or status.commerce is None:
        return status
    seen = CommerceSide.seen(row)
    side = status.commerce.model_copy(update={"version": seen.version, "modified_at": row.modified_at})
    return status.model_copy(update={"commerce": side})


async def _shows(task: PlannerTask, side: PlannerSide, buckets: Buckets) -> bool:
    bucket_ok = side.bucket is None or task.bucket_id == await buckets.id_of(side.bucket)
    return (
        bucket_ok
        and status_of(task.percent_complete) is side.status
        and task.assignee_ids == side.assignee_ids
        and task.title == side.title
        and task.due == side.due
    )


async def execute(
    decision: Decision,
    *,
    commerce_task: StoreTask | None,
    gateway: PlannerGateway,
    commerce: MirrorCommerce,
    buckets: Buckets,
    on_created: Callable[[PairStatus], Awaitable[None]] | None = None,
) -> Executed:
    """Run the writes in order; return the status to record. Raises `Stale` (re-decide),
    `PlannerLimitExceeded` (reported by the caller) or a transient error (retried)."""
    status = decision.status
    done = Executed(status=status)
    row = commerce_task
    details_changed = False
    task_id: str | None = None
    created: PairStatus | None = None
    for action in decision.writes:
        try:
            if isinstance(action, CreatePlannerTask):
                want = action.task
                if on_created is not None and status is not None:
                    # The intent first: if the id never gets recorded (a crash, or a response lost
                    # after Planner committed), the next pass adopts the task instead of creating
                    # a duplicate (shared/tasks/orphans.py).
                    await on_created(status.creating(datetime.now(UTC)))
                task = await gateway.create_task(
                    action.plan_id,
                    TaskFields(
                        title=want.title,
                        bucket_id=await buckets.id_of(want.bucket),
                        percent_complete=want.percent_complete,
                        priority=want.priority,
                        due=want.due,
                        assign=want.assignee_ids,
                    ),
                )
                task_id = task.task_id
                # Record the id before anything else can fail: without it the next pass creates again.
                status = status.created(task.task_id, task.etag) if status else status
                created = status
                if on_created is not None and status is not None:
                    await on_created(status)  # recorded at once
                if want.schedule is not None:
                    # The first occurrence at this store starts the Planner series (beta only).
                    started = await gateway.set_task_schedule(task.task_id, task.etag or "*", want.schedule)
                    status = _series(_planner_version(status, started.etag), started)
                    created = status
                details = await gateway.get_task_details(task.task_id)
                written = await gateway.update_task_details(
                    details,
                    TaskDetailsFields(
                        description=want.description,
                        checklist=tuple(ChecklistItem(item_id=i, title=t) for i, t in want.checklist.items),
                        references=_reference(want.reference),
                    ),
                )
                status = _planner_version(status, None, written.etag)
                details_changed = True
            elif isinstance(action, UpdatePlannerFields):
                task_id = action.task_id
                fields = TaskFields(
                    title=action.title,
                    bucket_id=await buckets.id_of(action.bucket) if action.bucket is not None else None,
                    due=action.due,
                    percent_complete=action.percent_complete,
                    priority=action.priority,
                    assign=action.assign,
                    unassign=action.unassign,
                )
                updated = await gateway.update_task_fields(
                    action.task_id, action.if_match or "*", fields, clear_due=action.clear_due
                )
                status = _planner_version(status, updated.etag)
            elif isinstance(action, UpdatePlannerDetails):
                task_id = action.task_id
                ref = PlannerTaskDetails(task_id=action.task_id, etag=action.if_match or "*")
                written = await gateway.update_task_details(
                    ref,
                    TaskDetailsFields(
                        description=action.description,
                        checklist=action.checklist,
                        remove_checklist=action.remove_checklist,
                        references=_reference(action.add_reference),
                        remove_references=frozenset({action.remove_reference} - {None}),
                    ),
                )
                status = _planner_version(status, None, written.etag)
                details_changed = True
            elif isinstance(action, DeletePlannerTask):
                try:
                    etag = action.if_match or "*"
                    if action.stop_recurrence:
                        # Else Planner continues the series with a new task when this one is deleted.
                        etag = (await gateway.set_task_schedule(action.task_id, etag, None)).etag or etag
                    await gateway.delete_task(action.task_id, etag)
                except GraphNotFound:
                    pass  # already gone: done
            elif isinstance(action, WriteCommerceStatus | WriteCommerceAssignee):
                if row is None:
                    raise Stale(f"{decision.key}: no Commerce row to write")
                if isinstance(action, WriteCommerceStatus):
                    done_now = action.status is TaskStatus.COMPLETED
                    keep = action.status is TaskStatus.CANCELED
                    row = await commerce.update_store_task(
                        row,
                        status=action.status,
                        completed_by=UNSET if keep else (action.completed_by if done_now else None),
                        completed_at=UNSET if keep else (action.completed_at if done_now else None),
                        force=row.etag is None,
                    )
                else:
                    row = await commerce.update_store_task(
                        row, assigned_to=action.assigned_to, force=row.etag is None
                    )
                status = _commerce_version(status, row)
        except (GraphPreconditionFailed, CommercePreconditionFailed) as exc:
            raise Stale(f"{decision.key}: {exc}", created if created else None) from exc
        except (GraphNotFound, CommerceNotFound) as exc:
            raise Stale(f"{decision.key}: gone while writing ({exc})", created if created else None) from exc
        done.writes += 1
        done.graph_writes.append(action.action)
    if details_changed and task_id is not None and status is not None and status.planner is not None:
        # Planner moves the task's ETag when its details change (hasDescription). Take the new ETag
        # only if the task still shows what we wrote: a person's edit in between (this read is not
        # atomic with our write) must stay visible to the next poll as a change.
        now = await gateway.get_task(task_id)
        if await _shows(now, status.planner, buckets):
            status = _planner_version(status, now.etag)
    done.status = status
    return done

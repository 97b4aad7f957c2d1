"""The decision table of task mirroring (pure): both sides + the pair's status -> actions + new status.

Executor contract (the activity that runs a `Decision`; see docs/tasks.md):
  1. Read both sides fresh (Commerce store task; Planner task, its details and bucket name) and the
     pair's `PairStatus`; call `decide`.
  2. Run the write actions in order; `Report`, `KeepTombstone` and `Nothing` do no I/O. Each write
     sends its `if_match`; when a decision has two writes to the same Commerce row, the second
     sends the ETag the first one returned.
  3. After `CreatePlannerTask` succeeds, record its id: `decision.status.created(task_id, etag)`.
  4. When every action succeeded, save `decision.status` (None: delete the status row).
  5. On 412 (stale ETag) or a 404 on PATCH, from either side: re-read both sides and call `decide` again with
     `status.with_written(decision.status)` -- the decision is a pure function of the re-read state,
     and the writes that did land are recognised as ours. Give up after a few rounds (transient
     error: the orchestration retries later). A 404 on DELETE counts as done.
The pair is never run twice concurrently (one orchestration per task x store).
"""

from __future__ import annotations

from shared.domain.task_mirror import PlannerTaskView
from shared.domain.tasks import StoreTask, TaskStatus
from shared.tasks.actions import (
    Action,
    CreatePlannerTask,
    DeletePlannerTask,
    KeepTombstone,
    Nothing,
    Report,
    ReportKind,
    WriteCommerceStatus,
)
from shared.tasks.decision import Decision, Outcome
from shared.tasks.mapping import (
    MirrorContext,
    desired_planner_task,
    status_of,
)
from shared.tasks.merge import mapping_reports, merge
from shared.tasks.recurrence import SeriesStep
from shared.tasks.state import CommerceSide, PairStatus, PlannerSide, text_hash

# Planner limits (https://learn.microsoft.com/en-us/office365/planner/planner-limits; the stricter
# of the two published copies): a create past these would fail with 403, so it is not attempted.
MAX_TASKS_PER_PLAN = 9000
MAX_OPEN_TASKS_PER_PLAN = 2400


def decide(
    commerce: StoreTask | None,
    planner: PlannerTaskView | None,
    status: PairStatus | None,
    ctx: MirrorContext,
) -> Decision:
    """One pair: `commerce` None = the store task no longer exists; `planner` None = no Planner task
    (never created, or deleted in Teams); `status` None = never synced."""
    key = (
        commerce.key
        if commerce
        else status.key
        if status
        else f"planner:{planner.task_id if planner else '?'}"
    )
    if status is not None and status.tombstone:
        return _tombstone(key, commerce, planner, status, ctx, reason="tombstone kept")
    if commerce is None or commerce.status is TaskStatus.CANCELED:
        if commerce is None and status is None:
            return Decision(key=key, outcome=Outcome.IN_SYNC, actions=(Nothing(key=key),), status=None)
        return _tombstone(key, commerce, planner, status, ctx, reason="canceled in Commerce")
    known = status.planner if status and status.planner and status.planner.task_id else None
    if planner is None and known is None:
        return _create(commerce, status, ctx)
    if planner is None:
        return _deleted_in_teams(commerce, status, ctx)
    return merge(commerce, planner, status, ctx)


def _tombstone(
    key: str,
    commerce: StoreTask | None,
    planner: PlannerTaskView | None,
    status: PairStatus | None,
    ctx: MirrorContext,
    reason: str,
) -> Decision:
    actions: list[Action] = []
    if planner is not None:
        known = status.planner if status is not None and status.planner is not None else None
        in_series = known is not None and known.task_id == planner.task_id and known.series_id is not None
        actions.append(
            DeletePlannerTask(
                key=key, task_id=planner.task_id, if_match=planner.etag, stop_recurrence=in_series
            )
        )
    actions.append(KeepTombstone(key=key))
    new = PairStatus(
        key=key,
        plan_id=ctx.plan_id,
        commerce=CommerceSide.seen(commerce) if commerce else (status.commerce if status else None),
        planner=None,
        tombstone=True,
        last_decision=reason,
    )
    return Decision(key=key, outcome=Outcome.TOMBSTONED, actions=tuple(actions), status=new)


def _create(commerce: StoreTask, status: PairStatus | None, ctx: MirrorContext, why: str = "") -> Decision:
    key = commerce.key
    full = ctx.plan_task_count is not None and ctx.plan_task_count >= MAX_TASKS_PER_PLAN
    busy = ctx.plan_open_task_count is not None and ctx.plan_open_task_count >= MAX_OPEN_TASKS_PER_PLAN
    if full or busy:
        detail = (
            f"plan {ctx.plan_id} has {ctx.plan_task_count} tasks ({ctx.plan_open_task_count} open); limits "
            f"{MAX_TASKS_PER_PLAN}/{MAX_OPEN_TASKS_PER_PLAN}: task not created, retried next pass"
        )
        report = Report(key=key, kind=ReportKind.PLANNER_LIMIT, detail=detail)
        held = PairStatus(
            key=key, plan_id=ctx.plan_id, commerce=CommerceSide.seen(commerce), last_decision="held: limit"
        )
        return Decision(key=key, outcome=Outcome.HELD, actions=(report,), status=held)
    if ctx.series is SeriesStep.SKIP:
        skipped = PairStatus(
            key=key,
            plan_id=ctx.plan_id,
            commerce=CommerceSide.seen(commerce),
            last_decision="recurring occurrence completed before it reached Teams: not in the series",
        )
        return Decision(key=key, outcome=Outcome.IN_SYNC, actions=(Nothing(key=key),), status=skipped)
    if ctx.series is SeriesStep.WAIT:
        detail = (
            "recurring task: the previous occurrence is still open in Teams, so Planner has not made this "
            "occurrence's task yet; it is mirrored once that one is completed or canceled"
        )
        report = Report(key=key, kind=ReportKind.SERIES_WAITING, detail=detail)
        waiting = PairStatus(
            key=key, plan_id=ctx.plan_id, commerce=CommerceSide.seen(commerce), last_decision="held: series"
        )
        return Decision(key=key, outcome=Outcome.HELD, actions=(report,), status=waiting)
    desired = desired_planner_task(commerce, ctx)
    written = PlannerSide.make(
        task_id=None,
        status=status_of(desired.percent_complete),
        assignee_ids=desired.assignee_ids,
        title=desired.title,
        bucket=desired.bucket,
        due=desired.due,
        description_hash=text_hash(desired.description),
        written=True,
        priority=desired.priority,
        checklist_ids=desired.checklist.ids,
        reference=desired.reference,
    )
    actions: list[Action] = [
        CreatePlannerTask(key=key, plan_id=ctx.plan_id, task=desired),
        *mapping_reports(key, desired),
    ]
    if why:
        actions.append(Report(key=key, kind=ReportKind.DELETED_IN_TEAMS, detail=why))
    new = PairStatus(
        key=key,
        plan_id=ctx.plan_id,
        commerce=CommerceSide.seen(commerce),
        planner=written,
        written_planner=written,
        last_decision="created" + (f" ({why})" if why else ""),
    )
    return Decision(key=key, outcome=Outcome.CREATED, actions=tuple(actions), status=new)


def _deleted_in_teams(commerce: StoreTask, status: PairStatus | None, ctx: MirrorContext) -> Decision:
    """The Planner task we mirrored is gone."""
    key = commerce.key
    assert status is not None and status.planner is not None
    gone = status.planner.task_id
    if ctx.deletions_held:
        detail = f"Planner task {gone} missing while plan {ctx.plan_id} lost most mirrored tasks; held"
        report = Report(key=key, kind=ReportKind.HELD_MASS_DELETE, detail=detail)
        held = status.model_copy(update={"last_decision": "held: mass delete"})
        return Decision(key=key, outcome=Outcome.HELD, actions=(report,), status=held)
    if not ctx.settings.planner_delete_cancels_commerce:
        return _create(commerce, status, ctx, why=f"Planner task {gone} deleted in Teams; re-created")
    actions: list[Action] = []
    if commerce.status is not TaskStatus.COMPLETED:
        actions.append(WriteCommerceStatus(key=key, status=TaskStatus.CANCELED, if_match=commerce.etag))
        detail = f"Planner task {gone} deleted in Teams; Commerce task canceled"
    else:
        detail = f"Planner task {gone} deleted in Teams; Commerce task already completed, left as is"
    actions += [Report(key=key, kind=ReportKind.DELETED_IN_TEAMS, detail=detail), KeepTombstone(key=key)]
    final = TaskStatus.CANCELED if commerce.status is not TaskStatus.COMPLETED else commerce.status
    new = PairStatus(
        key=key,
        plan_id=ctx.plan_id,
        commerce=CommerceSide.make(final, commerce.assigned_to, version=CommerceSide.seen(commerce).version),
        tombstone=True,
        last_decision="deleted in Teams",
    )
    return Decision(key=key, outcome=Outcome.TOMBSTONED, actions=tuple(actions), status=new)

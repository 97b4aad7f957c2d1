"""The decision table of task mirroring (pure): both sides + the pair's status -> actions + new status.

Executor contract (the activity that runs a `Decision`; see docs/tasks.md):
  1. Read both sides fresh (Commerce store task; Planner task, its details and bucket name) and the
     pair's `PairStatus`; call `decide`.
  2. Run the write actions in order; `Report`, `KeepTombstone` and `Nothing` do no I/O. Each write
     sends its `if_match`; when a decision has two writes to the same Commerce row, the second
     sends the ETag the first one returned.
  3. After `CreatePlannerTask` succeeds, record its id: `decision.status.created(task_id, etag)`.
  4. When every action succeeded, save `decision.status` (None: delete the status row).
  5. On 412 (stale ETag) from either side: re-read both sides and call `decide` again with
     `status.with_written(decision.status)` -- the decision is a pure function of the re-read state,
     and the writes that did land are recognised as ours. Give up after a few rounds (transient
     error: the orchestration retries later). A 404 on DELETE counts as done.
The pair is never run twice concurrently (one orchestration per task x store).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum, StrEnum

from pydantic import BaseModel, ConfigDict

from shared.domain.task_mirror import PlannerTaskView
from shared.domain.tasks import StoreTask, TaskStatus
from shared.tasks.actions import (
    COMMERCE_WRITES,
    PLANNER_WRITES,
    Action,
    CreatePlannerTask,
    DeletePlannerTask,
    KeepTombstone,
    Nothing,
    Report,
    ReportKind,
    UpdatePlannerDetails,
    UpdatePlannerFields,
    WriteCommerceAssignee,
    WriteCommerceStatus,
)
from shared.tasks.mapping import (
    DesiredPlannerTask,
    MirrorContext,
    assignee_ids,
    desired_planner_task,
    owned_differences,
    percent_of,
    status_of,
)
from shared.tasks.state import CommerceSide, PairStatus, PlannerSide, text_hash

# Planner limits (https://learn.microsoft.com/en-us/office365/planner/planner-limits; the stricter
# of the two published copies): a create past these would fail with 403, so it is not attempted.
MAX_TASKS_PER_PLAN = 9000
MAX_OPEN_TASKS_PER_PLAN = 2400


class Outcome(StrEnum):
    IN_SYNC = "in_sync"
    ECHO = "echo"  # a side's version moved but its fields are what we wrote
    CREATED = "created"
    UPDATED_PLANNER = "updated_planner"
    UPDATED_COMMERCE = "updated_commerce"
    UPDATED_BOTH = "updated_both"
    TOMBSTONED = "tombstoned"
    HELD = "held"  # mass-delete guard or Planner limit: nothing written, reported


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    outcome: Outcome
    actions: tuple[Action, ...]
    status: PairStatus | None  # record after every action succeeded; None = forget the pair

    @property
    def writes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if isinstance(a, PLANNER_WRITES + COMMERCE_WRITES))

    @property
    def reports(self) -> tuple[Report, ...]:
        return tuple(a for a in self.actions if isinstance(a, Report))


class _Side(Enum):
    COMMERCE = "commerce"
    PLANNER = "planner"


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
    return _merge(commerce, planner, status, ctx)


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
        actions.append(DeletePlannerTask(key=key, task_id=planner.task_id, if_match=planner.etag))
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


def _problems(key: str, desired: DesiredPlannerTask) -> list[Action]:
    return [Report(key=key, kind=ReportKind.MAPPING_PROBLEM, detail=p) for p in desired.problems]


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
    )
    actions: list[Action] = [
        CreatePlannerTask(key=key, plan_id=ctx.plan_id, task=desired),
        *_problems(key, desired),
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


def _previous_commerce(commerce: StoreTask, status: PairStatus | None) -> tuple[CommerceSide | None, bool]:
    """(the Commerce values to compare with, whether Commerce still has the recorded version).
    Same version -> nothing changed there, whatever a (stale) read shows. Otherwise the recorded
    values, or what we wrote when that is what Commerce shows now (our write landed; its echo is
    not a user's change)."""
    if status is None or status.commerce is None:
        return None, False
    seen = CommerceSide.seen(commerce)
    if seen.version is not None and seen.version == status.commerce.version:
        return seen, True
    written = status.written_commerce
    if written is not None and written.fingerprint == seen.fingerprint != status.commerce.fingerprint:
        return written, False
    return status.commerce, False


def _previous_planner(planner: PlannerTaskView, status: PairStatus | None) -> tuple[PlannerSide | None, bool]:
    """As `_previous_commerce`, for the Planner task (version = @odata.etag)."""
    if status is None or status.planner is None or status.planner.task_id not in (planner.task_id, None):
        return None, False
    seen = PlannerSide.seen(planner, status.planner)
    if planner.etag is not None and planner.etag == status.planner.etag:
        return seen, True
    written = status.written_planner
    if written is not None and written.fingerprint == seen.fingerprint != status.planner.fingerprint:
        return written, False
    return status.planner, False


def _winner(
    c_changed: bool, p_changed: bool, c_time: datetime | None, p_time: datetime | None
) -> tuple[_Side, bool]:
    """(side whose value is kept, whether both changed). Commerce is the master: it wins when
    neither changed (it restates its value), on ties and when a time is unknown."""
    if c_changed and p_changed:
        later = c_time is not None and p_time is not None and p_time > c_time
        return (_Side.PLANNER if later else _Side.COMMERCE), True
    return (_Side.PLANNER if p_changed else _Side.COMMERCE), False


def _planner_time(planner: PlannerTaskView, completion: bool) -> datetime:
    """When the Planner side changed: completedDateTime for a completion, else lastModifiedDateTime
    where Graph gives it (beta), else when the poll observed the change (v1.0)."""
    if completion and planner.completed_at is not None:
        return planner.completed_at
    return planner.last_modified or planner.observed_at


def _personnel_of(users: frozenset[str], ctx: MirrorContext) -> tuple[bool, str | None]:
    """Planner assignees -> Commerce's single assignee: none -> store-wide; one known worker ->
    that worker; several, or someone who is not a store worker -> not representable."""
    if not users:
        return True, None
    if len(users) == 1:
        (user,) = users
        if user in ctx.worker_of:
            return True, ctx.worker_of[user]
    return False, None


def _merge(
    commerce: StoreTask, planner: PlannerTaskView, status: PairStatus | None, ctx: MirrorContext
) -> Decision:
    key = commerce.key
    desired = desired_planner_task(commerce, ctx)
    prev_c, same_c = _previous_commerce(commerce, status)
    prev_p, same_p = _previous_planner(planner, status)
    both_known = prev_c is not None and prev_p is not None
    reports: list[Action] = []
    commerce_writes: list[Action] = []
    percent: int | None = None
    assign: frozenset[str] = frozenset()
    unassign: frozenset[str] = frozenset()

    # Status: shared; compared as classes (Planner 30% and Commerce "in progress" agree).
    c_status, p_status = commerce.status, status_of(planner.percent_complete)
    final_status = c_status
    if c_status != p_status:
        side, conflict = _winner(
            prev_c is None or prev_c.status != c_status,
            prev_p is None or prev_p.status != p_status,
            commerce.modified_at,
            _planner_time(planner, completion=p_status is TaskStatus.COMPLETED),
        )
        if side is _Side.COMMERCE:
            percent = percent_of(c_status)
        else:
            final_status = p_status
            done = p_status is TaskStatus.COMPLETED
            commerce_writes.append(
                WriteCommerceStatus(
                    key=key,
                    status=p_status,
                    completed_by=ctx.worker_of.get(planner.completed_by or "") if done else None,
                    completed_at=(planner.completed_at or planner.observed_at) if done else None,
                    if_match=commerce.etag,
                )
            )
        if conflict and both_known:
            reports.append(_conflict(key, "status", side, c_status.value, p_status.value))

    # Assignee: shared; compared as Entra user sets.
    c_users, p_users = assignee_ids(commerce.assigned_to, ctx), planner.assignee_ids
    final_assignee, final_users = commerce.assigned_to, p_users
    if c_users != p_users:
        side, conflict = _winner(
            prev_c is None or prev_c.assigned_to != commerce.assigned_to,
            prev_p is None or prev_p.assignee_ids != p_users,
            commerce.modified_at,
            _planner_time(planner, completion=False),
        )
        if side is _Side.PLANNER:
            representable, personnel = _personnel_of(p_users, ctx)
            if not representable:
                side = _Side.COMMERCE
                detail = f"Teams assignees {sorted(p_users)} are not one store worker; set back to Commerce's"
                reports.append(Report(key=key, kind=ReportKind.ASSIGNEE_NOT_REPRESENTABLE, detail=detail))
            elif personnel != commerce.assigned_to:
                final_assignee = personnel
                commerce_writes.append(
                    WriteCommerceAssignee(key=key, assigned_to=personnel, if_match=commerce.etag)
                )
        if side is _Side.COMMERCE:
            final_users = c_users
            assign, unassign = c_users - p_users, p_users - c_users
        if conflict and both_known:
            reports.append(_conflict(key, "assignee", side, commerce.assigned_to, sorted(p_users)))

    # Owned fields: Commerce's value, always; a Teams edit since our last write is reported.
    owned = owned_differences(desired, planner, ctx)
    fields = UpdatePlannerFields(
        key=key,
        task_id=planner.task_id,
        if_match=planner.etag,
        title=desired.title if "title" in owned else None,
        bucket=desired.bucket if "bucket" in owned else None,
        due=desired.due if "due" in owned else None,
        clear_due="due" in owned and desired.due is None,
        percent_complete=percent,
        assign=assign,
        unassign=unassign,
    )
    planner_writes: list[Action] = [fields] if fields.fields else []
    if "description" in owned:
        planner_writes.append(
            UpdatePlannerDetails(
                key=key,
                task_id=planner.task_id,
                if_match=planner.details_etag,
                description=desired.description,
            )
        )
    edited = _edited_in_teams(planner, prev_p, owned)
    if edited:
        detail = f"Commerce owns {', '.join(edited)}; the edit made in Teams was replaced"
        reports.append(Report(key=key, kind=ReportKind.OWNED_FIELD_OVERWRITTEN, detail=detail, fields=edited))

    if planner_writes:
        reports += _problems(key, desired)

    wrote_c, wrote_p = bool(commerce_writes), bool(planner_writes)
    new_c = CommerceSide.make(
        final_status,
        final_assignee,
        version=CommerceSide.seen(commerce).version,
        modified_at=commerce.modified_at,
        written=wrote_c,
    )
    seen_p = PlannerSide.seen(planner, prev_p)
    new_p = PlannerSide.make(
        task_id=planner.task_id,
        etag=planner.etag,
        details_etag=seen_p.details_etag,
        status=c_status if percent is not None else p_status,
        assignee_ids=final_users,
        title=desired.title if "title" in owned else planner.title,
        bucket=desired.bucket if "bucket" in owned else planner.bucket_name,
        due=desired.due if "due" in owned else planner.due,
        description_hash=text_hash(desired.description)
        if "description" in owned
        else seen_p.description_hash,
        written=wrote_p,
        observed_at=planner.observed_at,
    )
    written_c, written_p = (new_c if wrote_c else None), (new_p if wrote_p else None)
    if not wrote_c and same_c and status is not None and status.commerce is not None:
        # Same version as recorded: keep the record (a stale read must not replace it).
        new_c, written_c = status.commerce, status.written_commerce
    if not wrote_p:
        new_p, written_p = seen_p, None
        if same_p and status is not None and status.planner is not None:
            new_p, written_p = status.planner, status.written_planner
    actions = [*planner_writes, *commerce_writes, *reports]
    outcome = _outcome(wrote_c, wrote_p, commerce, planner, status)
    new = PairStatus(
        key=key,
        plan_id=ctx.plan_id,
        commerce=new_c,
        planner=new_p,
        written_commerce=written_c,
        written_planner=written_p,
        last_decision=outcome.value,
    )
    return Decision(key=key, outcome=outcome, actions=tuple(actions) or (Nothing(key=key),), status=new)


def _conflict(key: str, field: str, side: _Side, commerce_value: object, planner_value: object) -> Report:
    detail = (
        f"{field} changed on both sides (Commerce: {commerce_value}, Teams: {planner_value}); "
        f"{side.value} changed later and wins"
    )
    return Report(key=key, kind=ReportKind.CONFLICT_RESOLVED, detail=detail, fields=(field,))


def _edited_in_teams(
    planner: PlannerTaskView, prev: PlannerSide | None, owned: tuple[str, ...]
) -> tuple[str, ...]:
    """Owned fields that differ from Commerce *and* from what we last wrote: someone edited them in
    Teams (rather than Commerce having changed)."""
    if prev is None:
        return ()
    changed = {
        "title": planner.title != prev.title,
        "bucket": planner.bucket_name != prev.bucket,
        "due": planner.due != prev.due,
        "description": prev.description_hash is not None
        and text_hash(planner.description) not in (None, prev.description_hash),
    }
    return tuple(name for name in owned if changed[name])


def _outcome(
    wrote_c: bool, wrote_p: bool, commerce: StoreTask, planner: PlannerTaskView, status: PairStatus | None
) -> Outcome:
    if wrote_c and wrote_p:
        return Outcome.UPDATED_BOTH
    if wrote_c or wrote_p:
        return Outcome.UPDATED_COMMERCE if wrote_c else Outcome.UPDATED_PLANNER
    moved_p = status is not None and status.planner is not None and status.planner.etag != planner.etag
    seen_c = CommerceSide.seen(commerce).version
    moved_c = status is not None and status.commerce is not None and status.commerce.version != seen_c
    ours = status is not None and (
        (moved_p and status.planner is not None and status.planner.written)
        or (moved_c and status.commerce is not None and status.commerce.written)
    )
    return Outcome.ECHO if ours else Outcome.IN_SYNC

"""Row 8 of the decision table: both records exist -- merge status, assignee and owned fields."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from shared.domain.task_mirror import PlannerTaskView
from shared.domain.tasks import StoreTask, TaskStatus
from shared.tasks.actions import (
    Action,
    Nothing,
    Report,
    ReportKind,
    UpdatePlannerDetails,
    UpdatePlannerFields,
    WriteCommerceAssignee,
    WriteCommerceStatus,
)
from shared.tasks.decision import Decision, Outcome
from shared.tasks.fields import (
    CHECKLIST_MAX,
    REFERENCES_MAX,
    ChecklistChange,
    ReferenceChange,
    checklist_change,
    priority_class,
    reference_change,
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


class _Side(Enum):
    COMMERCE = "commerce"
    PLANNER = "planner"


def mapping_reports(key: str, desired: DesiredPlannerTask) -> list[Action]:
    return [Report(key=key, kind=ReportKind.MAPPING_PROBLEM, detail=p) for p in desired.problems]


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


def merge(
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
    # (A task made in Teams keeps them as Teams has them: shared/tasks/origin.py.)
    owned = () if ctx.teams_origin else owned_differences(desired, planner, ctx)
    fields = UpdatePlannerFields(
        key=key,
        task_id=planner.task_id,
        if_match=planner.etag,
        title=desired.title if "title" in owned else None,
        bucket=desired.bucket if "bucket" in owned else None,
        due=desired.due if "due" in owned else None,
        clear_due="due" in owned and desired.due is None,
        percent_complete=percent,
        priority=desired.priority if "priority" in owned else None,
        assign=assign,
        unassign=unassign,
    )
    planner_writes: list[Action] = [fields] if fields.fields else []
    extras = _details_extras(desired, planner, prev_p)
    if "description" in owned or not extras.checklist.empty or not extras.reference.empty:
        planner_writes.append(
            UpdatePlannerDetails(
                key=key,
                task_id=planner.task_id,
                if_match=planner.details_etag,
                description=desired.description if "description" in owned else None,
                checklist=extras.checklist.upserts,
                remove_checklist=extras.checklist.removals,
                add_reference=extras.reference.add,
                remove_reference=extras.reference.remove,
            )
        )
    reports += extras.problems(key)
    edited = _edited_in_teams(planner, prev_p, owned) + extras.edited
    if edited:
        detail = f"Commerce owns {', '.join(edited)}; the edit made in Teams was replaced"
        reports.append(Report(key=key, kind=ReportKind.OWNED_FIELD_OVERWRITTEN, detail=detail, fields=edited))

    if planner_writes:
        reports += mapping_reports(key, desired)

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
        series_id=seen_p.series_id,
        priority=desired.priority if "priority" in owned else planner.priority,
        checklist_ids=extras.checklist_ids,
        reference=extras.reference_key,
    )
    written_c, written_p = (new_c if wrote_c else None), (new_p if wrote_p else None)
    if not wrote_c and same_c and status is not None and status.commerce is not None:
        # Same version as recorded: keep the record (a stale read must not replace it).
        new_c, written_c = status.commerce, status.written_commerce
    if not wrote_p:
        new_p, written_p = seen_p, None
        if planner.checklist is not None:  # details read: what is ours now
            new_p = new_p.model_copy(
                update={"checklist_ids": extras.checklist_ids, "reference": extras.reference_key}
            )
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


@dataclass(frozen=True)
class _Extras:
    """Checklist and link on /details (shared/tasks/fields.py): what to write, what is ours after."""

    checklist: ChecklistChange
    reference: ReferenceChange
    checklist_ids: frozenset[str] | None
    reference_key: str | None
    edited: tuple[str, ...]

    def problems(self, key: str) -> list[Action]:
        out: list[Action] = []
        if self.checklist.dropped:
            detail = (
                f"{self.checklist.dropped} checklist steps not added: the task already has {CHECKLIST_MAX} "
                "items (403 MaximumChecklistItemsOnTask)"
            )
            out.append(Report(key=key, kind=ReportKind.MAPPING_PROBLEM, detail=detail))
        if self.reference.dropped:
            detail = f"task link not added: the task already has {REFERENCES_MAX} references"
            out.append(Report(key=key, kind=ReportKind.MAPPING_PROBLEM, detail=detail))
        return out


def _details_extras(
    desired: DesiredPlannerTask, planner: PlannerTaskView, prev: PlannerSide | None
) -> _Extras:
    """Only when the details were read in this pass (`planner.checklist` not None); else nothing."""
    if planner.checklist is None or planner.reference_keys is None:
        return _Extras(
            ChecklistChange(),
            ReferenceChange(),
            prev.checklist_ids if prev else None,
            prev.reference if prev else None,
            (),
        )
    ours = prev.checklist_ids if prev else None
    checklist = checklist_change(desired.checklist, planner.checklist, ours)
    have = planner.reference_keys
    reference = reference_change(desired.reference, have, prev.reference if prev else None)
    present = {i.item_id for i in planner.checklist} | {i.item_id for i in checklist.upserts}
    ref_now = desired.reference if desired.reference in have or reference.add else None
    link_edited = prev is not None and prev.reference is not None and prev.reference == desired.reference
    link_edited = link_edited and desired.reference not in have
    edited = (("checklist",) if checklist.edited else ()) + (("link",) if link_edited else ())
    return _Extras(checklist, reference, desired.checklist.ids & present, ref_now, edited)


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
        "priority": prev.priority is not None
        and priority_class(planner.priority) is not priority_class(prev.priority),
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

"""Commerce store task -> the Planner task it should be (pure).

Commerce owns title, description, due date and bucket; status and assignee are shared (see
`decide`). `MirrorContext` carries everything about a pair that is not on either side's record:
the plan, the task list's name, the task definition, the store's time zone, and the
worker <-> Entra user mappings (resolved by the caller; this layer does no I/O).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.planner import PlannerSchedule
from shared.domain.task_mirror import PlannerTaskView
from shared.domain.tasks import StoreTask, TaskDefinition, TaskStatus
from shared.settings import TaskSettings
from shared.tasks.fields import (
    CHECKLIST_MAX,
    Checklist,
    checklist_of,
    link_reference,
    planner_priority,
    priority_class,
    split_notes,
)
from shared.tasks.recurrence import SeriesStep, planner_schedule
from shared.tasks.zones import StoreZone, ZoneSource, store_zone

TITLE_MAX = 255  # Planner rejects longer titles [unconfirmed limit; Planner UI enforces 255]
IN_PROGRESS_PERCENT = 50
_PERCENT = {TaskStatus.NOT_STARTED: 0, TaskStatus.IN_PROGRESS: IN_PROGRESS_PERCENT, TaskStatus.COMPLETED: 100}
FOOTER = "Commerce task {key} - edits made here are replaced by Commerce."


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def percent_of(status: TaskStatus) -> int:
    """not started / in progress / completed -> 0 / 50 / 100 (canceled has no Planner form)."""
    if status is TaskStatus.CANCELED:
        raise ValueError("a canceled task is removed from Planner, it has no percentComplete")
    return _PERCENT[status]


def status_of(percent: int) -> TaskStatus:
    """Planner percentComplete -> status: 0 not started, 1-99 in progress, 100 completed."""
    if percent >= 100:
        return TaskStatus.COMPLETED
    return TaskStatus.IN_PROGRESS if percent > 0 else TaskStatus.NOT_STARTED


class MirrorContext(_Model):
    """What the decision needs about one pair beyond the two records (read by the caller)."""

    plan_id: str = Field(min_length=1)
    list_name: str | None = Field(default=None, description="Task list name = bucket; None -> list id")
    definition: TaskDefinition | None = None
    time_zone: str | None = Field(default=None, description="Store's ChannelTimeZone as Commerce has it")
    user_of: dict[str, str] = Field(default_factory=dict, description="Personnel number -> Entra user id")
    worker_of: dict[str, str] = Field(default_factory=dict, description="Entra user id -> personnel number")
    contact_names: dict[str, str] = Field(default_factory=dict, description="Personnel number -> name")
    settings: TaskSettings = Field(default_factory=TaskSettings)
    deletions_held: bool = Field(default=False, description="Mass-delete guard tripped for this plan")
    plan_task_count: int | None = Field(default=None, description="Tasks in the plan, if known")
    plan_open_task_count: int | None = Field(default=None, description="Incomplete tasks in the plan")
    teams_origin: bool = Field(
        default=False,
        description="Made in Teams (shared/tasks/origin.py): title, due, bucket, description are Teams'",
    )
    series: SeriesStep = Field(
        default=SeriesStep.PLAIN, description="Recurring store task without a Planner task: start / wait"
    )

    @property
    def zone(self) -> StoreZone:
        return store_zone(self.time_zone, self.settings.default_time_zone)


class DesiredPlannerTask(_Model):
    title: str
    description: str
    bucket: str
    due: datetime | None = Field(description="dueDateTime in UTC; None = no due date")
    assignee_ids: frozenset[str]
    percent_complete: int
    problems: tuple[str, ...] = ()
    schedule: PlannerSchedule | None = Field(
        default=None, description="Beta recurrence schedule: this task starts the store's series"
    )
    priority: int | None = Field(default=None, description="Planner 0-10; None = Commerce sets none")
    checklist: Checklist = Field(default_factory=Checklist, description="The notes' steps (/details)")
    reference: str | None = Field(default=None, description="references key of a URL task link")


def due_day(task: StoreTask, definition: TaskDefinition | None) -> date | None:
    """Commerce's due date, else target date + the task's offset."""
    if task.due_date is not None:
        return task.due_date
    if task.target_date is None:
        return None
    return task.target_date + timedelta(days=definition.due_offset_days if definition else 0)


def due_datetime(day: date, zone: StoreZone, hour: int) -> datetime:
    """`day` at `hour` o'clock in the store's zone, as the UTC instant Planner stores."""
    return datetime.combine(day, time(hour), tzinfo=zone.zone).astimezone(UTC)


def notes_of(task: StoreTask, ctx: MirrorContext) -> str:
    return (task.notes or (ctx.definition.notes if ctx.definition else "")).strip()


def description_text(task: StoreTask, ctx: MirrorContext) -> str:
    """Notes (without the steps that are checklist items), contact person, link and a footer naming
    the Commerce task, one block each. Steps past Planner's 20 stay in the notes block."""
    definition = ctx.definition
    text, steps = split_notes(notes_of(task, ctx))
    extra = "\n".join(f"- [ ] {s}" for s in steps[CHECKLIST_MAX:])
    notes = "\n\n".join(b for b in (text, extra) if b)
    blocks = [notes] if notes else []
    lines = []
    contact = definition.contact_person if definition else None
    if contact:
        name = ctx.contact_names.get(contact)
        lines.append(f"Contact: {name} ({contact})" if name else f"Contact: {contact}")
    if definition and definition.link:
        lines.append(f"Link: {definition.link}")
    if lines:
        blocks.append("\n".join(lines))
    blocks.append(FOOTER.format(key=task.key))
    return "\n\n".join(blocks)


def normalized_text(text: str) -> str:
    """Planner may hand text back with CRLF or trailing blanks; compare without them."""
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").strip().split("\n"))


def assignee_ids(personnel_number: str | None, ctx: MirrorContext) -> frozenset[str]:
    user = ctx.user_of.get(personnel_number) if personnel_number else None
    return frozenset({user}) if user else frozenset()


def desired_planner_task(task: StoreTask, ctx: MirrorContext) -> DesiredPlannerTask:
    """The Planner task a (non-canceled) store task should be."""
    definition = ctx.definition
    problems = []
    zone = ctx.zone
    if zone.source is ZoneSource.FALLBACK:
        problems.append(
            f"store time zone {zone.name!r} is unknown; due dates use {ctx.settings.default_time_zone}"
        )
    if task.assigned_to and task.assigned_to not in ctx.user_of:
        problems.append(f"worker {task.assigned_to} has no Entra user; the Planner task is left unassigned")
    day = due_day(task, definition)
    title = (task.name or (definition.name if definition else "") or task.task).strip()
    status = task.status if task.status is not TaskStatus.CANCELED else TaskStatus.NOT_STARTED
    due = due_datetime(day, zone, ctx.settings.due_hour) if day else None
    schedule = None
    # A task already completed when first mirrored starts no series (Planner would continue a
    # series only on a completion it sees); the next occurrence then starts one.
    open_task = status is not TaskStatus.COMPLETED
    if task.recurrence is not None and ctx.series is SeriesStep.START and due is not None and open_task:
        schedule = planner_schedule(task.recurrence, due, zone)
    priority = definition.priority if definition else None
    # Ids per series for a recurring task: Planner copies the checklist into the series' next task,
    # and the next occurrence must recognise those items as its own (no duplicates).
    series = task.recurrence.series if task.recurrence else None
    checklist_key = f"{series}/{task.task}@{task.store}" if series else task.key
    checklist = checklist_of(checklist_key, split_notes(notes_of(task, ctx))[1])
    if checklist.overflow:
        problems.append(
            f"the notes have {len(checklist.items) + len(checklist.overflow)} steps; a Planner checklist "
            f"holds {CHECKLIST_MAX} (403 MaximumChecklistItemsOnTask): the rest stay in the description"
        )
    return DesiredPlannerTask(
        checklist=checklist,
        reference=link_reference(definition.link if definition else None),
        schedule=schedule,
        priority=planner_priority(priority) if priority else None,
        title=title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 1] + "…",
        description=description_text(task, ctx),
        bucket=ctx.list_name or task.task_list,
        due=due,
        assignee_ids=assignee_ids(task.assigned_to, ctx),
        percent_complete=percent_of(status),
        problems=tuple(problems),
    )


def owned_differences(
    desired: DesiredPlannerTask, view: PlannerTaskView, ctx: MirrorContext
) -> tuple[str, ...]:
    """Commerce-owned fields on which the Planner task differs from `desired`. The due date is
    compared as a calendar day in the store's zone (Planner's UI may store another hour of the same
    day); the description only when the details were read (`view.description` not None)."""
    zone = ctx.zone.zone
    fields = []
    if view.title != desired.title:
        fields.append("title")
    if view.bucket_name != desired.bucket:
        fields.append("bucket")
    have_day = view.due.astimezone(zone).date() if view.due else None
    want_day = desired.due.astimezone(zone).date() if desired.due else None
    if have_day != want_day:
        fields.append("due")
    if desired.priority is not None and priority_class(view.priority) is not priority_class(desired.priority):
        fields.append("priority")  # compared as a class: Teams' 2 and Commerce's important agree
    if view.description is not None and normalized_text(view.description) != normalized_text(
        desired.description
    ):
        fields.append("description")
    return tuple(fields)

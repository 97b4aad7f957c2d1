"""Commerce store task -> the Planner task it should be (pure).

Commerce owns title, description, due date and bucket; status and assignee are shared (see
`decide`). `MirrorContext` carries everything about a pair that is not on either side's record:
the plan, the task list's name, the task definition, the store's time zone, and the
worker <-> Entra user mappings (resolved by the caller; this layer does no I/O).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.task_mirror import PlannerTaskView
from shared.domain.tasks import StoreTask, TaskDefinition, TaskStatus
from shared.settings import TaskSettings
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


def description_text(task: StoreTask, ctx: MirrorContext) -> str:
    """Notes, contact person, link and a footer naming the Commerce task, one block each."""
    definition = ctx.definition
    notes = (task.notes or (definition.notes if definition else "")).strip()
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
    return DesiredPlannerTask(
        title=title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 1] + "…",
        description=description_text(task, ctx),
        bucket=ctx.list_name or task.task_list,
        due=due_datetime(day, zone, ctx.settings.due_hour) if day else None,
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
    if view.description is not None and normalized_text(view.description) != normalized_text(
        desired.description
    ):
        fields.append("description")
    return tuple(fields)

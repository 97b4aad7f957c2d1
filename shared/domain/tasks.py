"""Commerce task management: task lists, their tasks, and each task's copy at a store.

A *task list* (HQ "Task management administration") holds task definitions. Publishing the list
to stores with a target date creates one `StoreTask` per task x store: that is what a store sees,
what gets a status, and what the app mirrors into the store team's Planner plan.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TaskStatus(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELED = "canceled"


class TaskOrigin(StrEnum):
    """Where a store task started: a list published from Commerce HQ, or Teams (a list published
    from Teams, or a task a store manager made there; shared/tasks/origin.py)."""

    COMMERCE = "commerce"
    TEAMS_PUBLISHED = "teams_published"
    TEAMS_ADHOC = "teams_adhoc"


class TaskPriority(StrEnum):
    """Task priority [ours: Commerce's task management documents none]; the four classes Planner
    shows (urgent / important / medium / low), see shared/tasks/fields.py."""

    URGENT = "urgent"
    IMPORTANT = "important"
    MEDIUM = "medium"
    LOW = "low"


class RecurrencePattern(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class TaskRecurrence(_Model):
    """The recurrence of the assignment a store task came from [ours: the HQ "Start process" form has
    an optional Recurrence; its entity is not public]. Every occurrence is its own task list instance
    (new process, new target date), so its own store task and pair; `series` ties them together."""

    series: str = Field(min_length=1, description="The recurring assignment's id (same for every occurrence)")
    occurrence: int = Field(ge=1, description="1 = the first occurrence")
    pattern: RecurrencePattern
    interval: int = Field(default=1, ge=1, le=99, description="Every n days / weeks / months")
    start: date = Field(description="Target date of the first occurrence")
    previous_list: str | None = Field(
        default=None, description="Task list instance of the previous occurrence (None for the first)"
    )


class TaskDefinition(_Model):
    """One task of a task list, before it is published anywhere."""

    task_list: str
    id: str = Field(min_length=1)
    name: str
    notes: str = ""
    due_offset_days: int = Field(default=0, description="Due date = target date + this offset")
    contact_person: str | None = Field(default=None, description="Personnel number")
    link: str | None = Field(default=None, description="Task link (URL, menu item or POS operation)")
    priority: TaskPriority | None = Field(default=None, description="None = Commerce sets none")


class TaskList(_Model):
    id: str = Field(min_length=1)
    name: str
    description: str = ""
    tasks: tuple[TaskDefinition, ...] = ()

    def task(self, task_id: str) -> TaskDefinition | None:
        return next((t for t in self.tasks if t.id == task_id), None)


class StoreTask(_Model):
    """A task as published to one store: the unit with a status, an assignee and a due date."""

    task_list: str
    task: str
    store: str
    legal_entity: str = "USRT"
    name: str = ""
    notes: str = ""
    status: TaskStatus = TaskStatus.NOT_STARTED
    target_date: date | None = None
    due_date: date | None = None
    assigned_to: str | None = Field(default=None, description="Personnel number; None = store-wide")
    completed_by: str | None = Field(default=None, description="Personnel number")
    completed_at: datetime | None = None
    modified_at: datetime | None = None
    etag: str | None = Field(default=None, description="@odata.etag of the row; sent as If-Match")
    origin: TaskOrigin = TaskOrigin.COMMERCE
    created_by: str | None = Field(default=None, description="Personnel number of who made it")
    publication_id: str | None = Field(default=None, description="Teams publication it came from")
    publication_name: str | None = None
    planner_task_id: str | None = Field(default=None, description="The Planner task it was made from")
    recurrence: TaskRecurrence | None = Field(default=None, description="None = not a recurring assignment")

    @property
    def key(self) -> str:
        """'TL-7/1@0042': list id / task id at store, the id a mirrored pair is keyed by."""
        return f"{self.task_list}/{self.task}@{self.store}"

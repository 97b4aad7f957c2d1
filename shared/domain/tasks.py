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


class TaskDefinition(_Model):
    """One task of a task list, before it is published anywhere."""

    task_list: str
    id: str = Field(min_length=1)
    name: str
    notes: str = ""
    due_offset_days: int = Field(default=0, description="Due date = target date + this offset")
    contact_person: str | None = Field(default=None, description="Personnel number")
    link: str | None = Field(default=None, description="Task link (URL, menu item or POS operation)")


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

    @property
    def key(self) -> str:
        """'TL-7/1@0042': list id / task id at store, the id a mirrored pair is keyed by."""
        return f"{self.task_list}/{self.task}@{self.store}"

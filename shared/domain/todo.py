"""Microsoft To Do as the app sees it: a worker's task lists and tasks, each with its ETag.

To Do mode mirrors a store task assigned to one worker into that worker's own To Do list (a list
per store, found by name). To Do needs no If-Match; the ETag only tells whether a task changed.
https://learn.microsoft.com/graph/api/resources/todotask
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TodoStatus(StrEnum):
    """todoTask.status, spelled as Graph spells it."""

    NOT_STARTED = "notStarted"
    IN_PROGRESS = "inProgress"
    COMPLETED = "completed"
    WAITING_ON_OTHERS = "waitingOnOthers"
    DEFERRED = "deferred"


class TodoList(_Model):
    list_id: str
    name: str
    etag: str | None = None


class TodoLink(_Model):
    """A linkedResource: where the task comes from (e.g. the Commerce task), set on create."""

    web_url: str | None = None
    application_name: str | None = None
    display_name: str | None = None
    external_id: str | None = Field(default=None, description="The source's own id, e.g. a store task key")


class TodoTask(_Model):
    task_id: str
    list_id: str
    user_id: str
    title: str
    body: str = ""
    status: TodoStatus = TodoStatus.NOT_STARTED
    due: datetime | None = Field(
        default=None, description="Aware when due_time_zone is UTC or an IANA name; To Do keeps the date"
    )
    due_time_zone: str | None = None
    completed: datetime | None = Field(default=None, description="To Do records the day (midnight UTC)")
    last_modified: datetime | None = None
    links: tuple[TodoLink, ...] = ()
    etag: str | None = None

    @property
    def is_complete(self) -> bool:
        return self.status is TodoStatus.COMPLETED


class TodoFields(_Model):
    """Fields to create or change: only the fields given are sent (`due=None` given removes the
    due date); `link` is used on create only (To Do takes linkedResources with the new task)."""

    title: str | None = None
    body: str | None = None
    status: TodoStatus | None = None
    due: datetime | None = None
    due_time_zone: str = Field(default="UTC", description="Zone of a naive `due`; aware values go as UTC")
    link: TodoLink | None = None

"""Planner as the app sees it: plans, buckets, tasks and task details, each with its ETag.

Planner requires `If-Match` on every PATCH and DELETE; the ETag travels with the model so an update
is always made against the version that was read.
https://learn.microsoft.com/en-us/graph/api/resources/planner-overview
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlannerPlan(_Model):
    plan_id: str
    title: str
    group_id: str | None = Field(default=None, description="The owning group (= team id)")
    etag: str | None = None


class PlannerBucket(_Model):
    bucket_id: str
    plan_id: str
    name: str
    order_hint: str | None = None
    etag: str | None = None


class PlannerTask(_Model):
    task_id: str
    plan_id: str
    title: str
    bucket_id: str | None = None
    percent_complete: int = Field(default=0, ge=0, le=100)
    priority: int | None = Field(default=None, ge=0, le=10)
    start: datetime | None = None
    due: datetime | None = None
    completed: datetime | None = None
    assignee_ids: frozenset[str] = frozenset()
    created: datetime | None = None
    etag: str | None = None

    @property
    def is_complete(self) -> bool:
        return self.percent_complete >= 100


class ChecklistItem(_Model):
    item_id: str
    title: str
    is_checked: bool = False
    order_hint: str | None = None


class PlannerTaskDetails(_Model):
    task_id: str
    description: str = ""
    checklist: tuple[ChecklistItem, ...] = ()
    etag: str | None = None


class TaskFields(_Model):
    """Fields to create or change on a task; None means "leave as is"."""

    title: str | None = None
    bucket_id: str | None = None
    percent_complete: int | None = Field(default=None, ge=0, le=100)
    priority: int | None = Field(default=None, ge=0, le=10)
    start: datetime | None = None
    due: datetime | None = None
    assign: frozenset[str] = frozenset()
    unassign: frozenset[str] = frozenset()


class TaskDetailsFields(_Model):
    """Details to change; checklist items are upserted by id, `remove_checklist` deletes by id."""

    description: str | None = None
    checklist: tuple[ChecklistItem, ...] = ()
    remove_checklist: frozenset[str] = frozenset()

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


class TeamsPublication(_Model):
    """Where a task published from Teams (Tasks by Planner -> Published lists) came from: beta
    `plannerTask.creationSource` as `plannerTeamsPublicationInfo`, read-only
    (https://learn.microsoft.com/en-us/graph/api/resources/plannerteamspublicationinfo)."""

    publication_id: str
    publication_name: str = ""
    publishing_team_id: str | None = None
    published_to_plan_id: str | None = None


class PlannerSchedule(_Model):
    """`plannerRecurrenceSchedule` (beta): a Graph `recurrencePattern` and its start; Planner computes
    `nextOccurrenceDateTime`. https://learn.microsoft.com/graph/api/resources/plannerrecurrenceschedule?view=graph-rest-beta"""

    pattern_type: str = Field(description="daily / weekly / absoluteMonthly (recurrencePattern.type)")
    interval: int = Field(default=1, ge=1)
    days_of_week: tuple[str, ...] = ()
    day_of_month: int | None = None
    pattern_start: datetime
    next_occurrence: datetime | None = Field(default=None, description="Read-only, computed by Planner")


class PlannerRecurrence(_Model):
    """`plannerTaskRecurrence` (beta only): the task's place in its series.
    https://learn.microsoft.com/graph/api/resources/plannertaskrecurrence?view=graph-rest-beta"""

    series_id: str
    occurrence_id: int = 1
    previous_task_id: str | None = None
    next_task_id: str | None = Field(default=None, description="Set once Planner made the next task")
    schedule: PlannerSchedule | None = Field(default=None, description="None = the series was stopped")


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
    created_by: str | None = Field(default=None, description="createdBy.user.id; None: an app made it")
    publication: TeamsPublication | None = Field(
        default=None, description="Published from Teams (beta creationSource only; None on v1.0)"
    )
    recurrence: PlannerRecurrence | None = Field(default=None, description="Only from a /beta read")

    @property
    def is_complete(self) -> bool:
        return self.percent_complete >= 100


class ChecklistItem(_Model):
    item_id: str
    title: str
    is_checked: bool = False
    order_hint: str | None = None


class PlannerReference(_Model):
    """One entry of details.references: `key` is the URL, encoded as Graph requires
    (https://learn.microsoft.com/graph/api/resources/plannerexternalreferences)."""

    key: str
    alias: str = ""
    type: str = "Other"


class PlannerTaskDetails(_Model):
    task_id: str
    description: str = ""
    checklist: tuple[ChecklistItem, ...] = ()
    references: tuple[PlannerReference, ...] = ()
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
    references: tuple[PlannerReference, ...] = ()
    remove_references: frozenset[str] = frozenset()

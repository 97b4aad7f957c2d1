"""A Planner task as the task mirror reads it: the task, its bucket's name, its description and who
completed it, plus *when the app saw this version* (v1.0 has no lastModifiedDateTime on a task).

The Graph gateway builds these from `PlannerTask` + the bucket list + `PlannerTaskDetails` +
`completedBy`; the pure decision layer (`shared.tasks`) reads nothing else.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.planner import ChecklistItem, PlannerTask, PlannerTaskDetails


class PlannerTaskView(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: str
    plan_id: str
    etag: str | None = None
    title: str = ""
    bucket_name: str | None = Field(
        default=None, description="Name of the task's bucket (Planner stores an id)"
    )
    due: datetime | None = Field(default=None, description="dueDateTime, timezone-aware (UTC)")
    percent_complete: int = Field(default=0, ge=0, le=100)
    priority: int | None = Field(default=None, ge=0, le=10, description="0-10; None = not read")
    assignee_ids: frozenset[str] = frozenset()
    completed_at: datetime | None = Field(default=None, description="completedDateTime")
    completed_by: str | None = Field(default=None, description="completedBy.user.id (Entra object id)")
    description: str | None = Field(
        default=None, description="From /details (own ETag); None = details not read in this pass"
    )
    details_etag: str | None = None
    checklist: tuple[ChecklistItem, ...] | None = Field(default=None, description="None = details not read")
    reference_keys: frozenset[str] | None = Field(default=None, description="None = details not read")
    last_modified: datetime | None = Field(
        default=None, description="lastModifiedDateTime where Graph gives one (beta); None in v1.0"
    )
    observed_at: datetime = Field(description="When the poll/reader first saw this version (UTC)")

    @classmethod
    def of(
        cls,
        task: PlannerTask,
        *,
        observed_at: datetime,
        bucket_name: str | None = None,
        details: PlannerTaskDetails | None = None,
        completed_by: str | None = None,
        last_modified: datetime | None = None,
    ) -> PlannerTaskView:
        return cls(
            task_id=task.task_id,
            plan_id=task.plan_id,
            etag=task.etag,
            title=task.title,
            bucket_name=bucket_name,
            due=task.due,
            percent_complete=task.percent_complete,
            priority=task.priority,
            assignee_ids=task.assignee_ids,
            completed_at=task.completed,
            completed_by=completed_by,
            description=details.description if details else None,
            details_etag=details.etag if details else None,
            checklist=details.checklist if details else None,
            reference_keys=frozenset(r.key for r in details.references) if details else None,
            last_modified=last_modified,
            observed_at=observed_at,
        )

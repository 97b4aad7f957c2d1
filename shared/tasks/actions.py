"""What a decision asks the executor to do (data only; JSON-serialisable for durable activities).

Every write names the version it was decided against (`if_match`). Planner: the task's or the
details' @odata.etag. Commerce: the store task row's @odata.etag (None: the row has none; the
executor then writes unguarded). A 412 on any of them means "the world moved": re-read, re-decide.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.planner import ChecklistItem
from shared.domain.tasks import TaskStatus
from shared.tasks.mapping import DesiredPlannerTask


class _Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str


class CreatePlannerTask(_Action):
    """POST /planner/tasks in the bucket named `task.bucket` (the executor finds or creates it),
    then PATCH its details with the description. The executor records the new id
    (`PairStatus.created`)."""

    action: Literal["create_planner_task"] = "create_planner_task"
    plan_id: str
    task: DesiredPlannerTask


class UpdatePlannerFields(_Action):
    """PATCH /planner/tasks/{id} with If-Match; fields left None are not sent."""

    action: Literal["update_planner_fields"] = "update_planner_fields"
    task_id: str
    if_match: str | None
    title: str | None = None
    bucket: str | None = Field(default=None, description="Bucket name; the executor resolves the id")
    due: datetime | None = None
    clear_due: bool = Field(default=False, description="Send dueDateTime: null")
    percent_complete: int | None = Field(default=None, ge=0, le=100)
    priority: int | None = Field(default=None, ge=0, le=10)
    assign: frozenset[str] = frozenset()
    unassign: frozenset[str] = frozenset()

    @property
    def fields(self) -> tuple[str, ...]:
        named = {
            "title": self.title is not None,
            "bucket": self.bucket is not None,
            "due": self.due is not None or self.clear_due,
            "percent_complete": self.percent_complete is not None,
            "priority": self.priority is not None,
            "assignments": bool(self.assign or self.unassign),
        }
        return tuple(name for name, on in named.items() if on)


class UpdatePlannerDetails(_Action):
    """PATCH /planner/tasks/{id}/details with the details' own If-Match: the description (None =
    left), checklist items to add or retitle / remove, and the task link reference to add / remove
    (one PATCH for all of them)."""

    action: Literal["update_planner_details"] = "update_planner_details"
    task_id: str
    if_match: str | None
    description: str | None = None
    checklist: tuple[ChecklistItem, ...] = ()
    remove_checklist: frozenset[str] = frozenset()
    add_reference: str | None = Field(default=None, description="references key (encoded URL)")
    remove_reference: str | None = None


class DeletePlannerTask(_Action):
    """DELETE with If-Match. `stop_recurrence`: the task continues a Planner series, so its schedule
    is set to null first (beta PATCH); otherwise Planner would create the series' next task."""

    action: Literal["delete_planner_task"] = "delete_planner_task"
    task_id: str
    if_match: str | None
    stop_recurrence: bool = False


class WriteCommerceStatus(_Action):
    """Set the store task's status; completion carries who (personnel number) and when."""

    action: Literal["write_commerce_status"] = "write_commerce_status"
    status: TaskStatus
    completed_by: str | None = None
    completed_at: datetime | None = None
    if_match: str | None


class WriteCommerceAssignee(_Action):
    action: Literal["write_commerce_assignee"] = "write_commerce_assignee"
    assigned_to: str | None = Field(description="Personnel number; None = store-wide")
    if_match: str | None


class ReportKind(StrEnum):
    OWNED_FIELD_OVERWRITTEN = "owned_field_overwritten"  # a Teams edit of a Commerce-owned field undone
    CONFLICT_RESOLVED = "conflict_resolved"  # both sides changed a shared field; the later won
    PLANNER_LIMIT = "planner_limit"  # creating would exceed a plan limit; not created
    HELD_MASS_DELETE = "held_mass_delete"  # plan lost many mirrored tasks at once; nothing cancelled
    DELETED_IN_TEAMS = "deleted_in_teams"  # a mirrored task was deleted in Teams
    ASSIGNEE_NOT_REPRESENTABLE = "assignee_not_representable"  # Teams assignee Commerce cannot hold
    MAPPING_PROBLEM = "mapping_problem"  # unknown time zone, worker without Entra user, ...
    SERIES_WAITING = "series_waiting"  # recurring: the previous occurrence is still open in Planner


class Report(_Action):
    """No I/O on either side: logged and counted by the caller (drift report)."""

    action: Literal["report"] = "report"
    kind: ReportKind
    detail: str
    fields: tuple[str, ...] = ()


class KeepTombstone(_Action):
    """No I/O: the pair stays (or becomes) a tombstone; nothing is created again."""

    action: Literal["keep_tombstone"] = "keep_tombstone"


class Nothing(_Action):
    """No I/O: both sides already agree."""

    action: Literal["nothing"] = "nothing"


Action = Annotated[
    CreatePlannerTask
    | UpdatePlannerFields
    | UpdatePlannerDetails
    | DeletePlannerTask
    | WriteCommerceStatus
    | WriteCommerceAssignee
    | Report
    | KeepTombstone
    | Nothing,
    Field(discriminator="action"),
]

PLANNER_WRITES = (CreatePlannerTask, UpdatePlannerFields, UpdatePlannerDetails, DeletePlannerTask)
COMMERCE_WRITES = (WriteCommerceStatus, WriteCommerceAssignee)

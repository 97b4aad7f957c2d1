"""Planner: plans, buckets, tasks and task details, every write guarded by If-Match.

Permission: Tasks.ReadWrite.All (application; Tasks.Read.All to read).
https://learn.microsoft.com/en-us/graph/api/resources/planner-overview: PATCH and DELETE need
`If-Match` with the last `@odata.etag`; a stale one answers 412; limits answer 403 with a code
(see errors.PLANNER_LIMIT_CODES). `Prefer: return=representation` makes PATCH return the new
object (and ETag) so no second read is needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from shared.domain.ids import segment
from shared.domain.planner import (
    ChecklistItem,
    PlannerBucket,
    PlannerPlan,
    PlannerRecurrence,
    PlannerReference,
    PlannerSchedule,
    PlannerTask,
    PlannerTaskDetails,
    TaskDetailsFields,
    TaskFields,
    TeamsPublication,
)
from shared.graph.batch import BatchRequest, run_batch
from shared.graph.client import GraphClient
from shared.graph.paging import items
from shared.graph.teams import plan_from

_RETURN = {"Prefer": "return=representation"}


def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def plan_tasks_path(plan_id: str) -> str:
    """A plan's task listing (v1.0 `GET /planner/plans/{id}/tasks`, app `Tasks.Read.All`:
    https://learn.microsoft.com/en-us/graph/api/plannerplan-list-tasks), relative to the version root."""
    return f"/planner/plans/{segment(plan_id)}/tasks"


def plan_tasks_delta_path(plan_id: str) -> str:
    """The first round of a plan's beta task delta. The documented deltaLink is plan-scoped
    (planner/plans('{id}')/tasks?…$deltatoken=…); this start URL is [unconfirmed]
    (https://learn.microsoft.com/graph/api/plannertask-delta?view=graph-rest-beta;
    reference/graph-apis.md, open items)."""
    return f"/planner/plans/{segment(plan_id)}/tasks/delta"


def publication_from(data: Any) -> TeamsPublication | None:
    """Beta `creationSource` of a task published from Teams: a `plannerTeamsPublicationInfo`
    (creationSourceKind `publication`), or the deprecated nested `teamsPublicationInfo` of the base
    `plannerTaskCreation` (https://learn.microsoft.com/graph/api/resources/plannertaskcreation?view=graph-rest-beta).
    None for every other task, and always on v1.0 (no `creationSource` there)."""
    if not isinstance(data, dict):
        return None
    info = data if data.get("publicationId") else data.get("teamsPublicationInfo")
    if not isinstance(info, dict) or not info.get("publicationId"):
        return None
    return TeamsPublication(
        publication_id=str(info["publicationId"]),
        publication_name=str(info.get("publicationName") or ""),
        publishing_team_id=info.get("publishingTeamId") or None,
        published_to_plan_id=info.get("publishedToPlanId") or None,
    )


def task_from(data: dict[str, Any]) -> PlannerTask:
    creator = ((data.get("createdBy") or {}).get("user") or {}).get("id")
    return PlannerTask(
        task_id=str(data["id"]),
        plan_id=str(data.get("planId") or ""),
        title=str(data.get("title") or ""),
        bucket_id=data.get("bucketId") or None,
        percent_complete=int(data.get("percentComplete") or 0),
        priority=data.get("priority"),
        start=_dt(data.get("startDateTime")),
        due=_dt(data.get("dueDateTime")),
        completed=_dt(data.get("completedDateTime")),
        created=_dt(data.get("createdDateTime")),
        assignee_ids=frozenset((data.get("assignments") or {}).keys()),
        etag=data.get("@odata.etag"),
        created_by=str(creator) if creator else None,
        publication=publication_from(data.get("creationSource")),
        recurrence=recurrence_from(data.get("recurrence")),
    )


def recurrence_from(data: Any) -> PlannerRecurrence | None:
    """beta `plannerTaskRecurrence` (absent from v1.0: None)."""
    if not isinstance(data, dict) or not data.get("seriesId"):
        return None
    schedule = data.get("schedule")
    parsed = None
    if isinstance(schedule, dict) and isinstance(schedule.get("pattern"), dict):
        pattern = schedule["pattern"]
        start = _dt(schedule.get("patternStartDateTime"))
        if start is not None:
            parsed = PlannerSchedule(
                pattern_type=str(pattern.get("type") or ""),
                interval=int(pattern.get("interval") or 1),
                days_of_week=tuple(str(d) for d in pattern.get("daysOfWeek") or ()),
                day_of_month=pattern.get("dayOfMonth") or None,
                pattern_start=start,
                next_occurrence=_dt(schedule.get("nextOccurrenceDateTime")),
            )
    return PlannerRecurrence(
        series_id=str(data["seriesId"]),
        occurrence_id=int(data.get("occurrenceId") or 1),
        previous_task_id=data.get("previousInSeriesTaskId") or None,
        next_task_id=data.get("nextInSeriesTaskId") or None,
        schedule=parsed,
    )


def schedule_body(schedule: PlannerSchedule | None) -> dict[str, Any]:
    """`{"recurrence": {"schedule": ...}}`; None stops the series (`schedule: null`)."""
    if schedule is None:
        return {"recurrence": {"schedule": None}}
    pattern: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.recurrencePattern",
        "type": schedule.pattern_type,
        "interval": schedule.interval,
    }
    if schedule.days_of_week:
        pattern["daysOfWeek"] = list(schedule.days_of_week)
        pattern["firstDayOfWeek"] = "sunday"
    if schedule.day_of_month:
        pattern["dayOfMonth"] = schedule.day_of_month
    return {
        "recurrence": {
            "schedule": {
                "@odata.type": "#microsoft.graph.plannerRecurrenceSchedule",
                "pattern": pattern,
                "patternStartDateTime": _iso(schedule.pattern_start),
            }
        }
    }


def bucket_from(data: dict[str, Any]) -> PlannerBucket:
    return PlannerBucket(
        bucket_id=str(data["id"]),
        plan_id=str(data.get("planId") or ""),
        name=str(data.get("name") or ""),
        order_hint=data.get("orderHint"),
        etag=data.get("@odata.etag"),
    )


def details_from(task_id: str, data: dict[str, Any]) -> PlannerTaskDetails:
    items = [
        ChecklistItem(
            item_id=str(key),
            title=str(item.get("title") or ""),
            is_checked=bool(item.get("isChecked")),
            order_hint=item.get("orderHint"),
        )
        for key, item in (data.get("checklist") or {}).items()
        if isinstance(item, dict)
    ]
    references = [
        PlannerReference(
            key=str(key), alias=str(ref.get("alias") or ""), type=str(ref.get("type") or "Other")
        )
        for key, ref in (data.get("references") or {}).items()
        if isinstance(ref, dict)
    ]
    return PlannerTaskDetails(
        task_id=task_id,
        description=str(data.get("description") or ""),
        checklist=tuple(items),
        references=tuple(references),
        etag=data.get("@odata.etag"),
    )


def task_body(fields: TaskFields) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if fields.title is not None:
        body["title"] = fields.title
    if fields.bucket_id is not None:
        body["bucketId"] = fields.bucket_id
    if fields.percent_complete is not None:
        body["percentComplete"] = fields.percent_complete
    if fields.priority is not None:
        body["priority"] = fields.priority
    if fields.start is not None:
        body["startDateTime"] = _iso(fields.start)
    if fields.due is not None:
        body["dueDateTime"] = _iso(fields.due)
    assignments: dict[str, Any] = {
        uid: {"@odata.type": "#microsoft.graph.plannerAssignment", "orderHint": " !"} for uid in fields.assign
    }
    assignments.update({uid: None for uid in fields.unassign})  # null removes an assignee
    if assignments:
        body["assignments"] = assignments
    return body


def details_body(fields: TaskDetailsFields) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if fields.description is not None:
        body["description"] = fields.description
    checklist: dict[str, Any] = {
        item.item_id: {
            "@odata.type": "microsoft.graph.plannerChecklistItem",
            "title": item.title,
            "isChecked": item.is_checked,
        }
        for item in fields.checklist
    }
    checklist.update({item_id: None for item_id in fields.remove_checklist})
    if checklist:
        body["checklist"] = checklist
    # Keys are URLs encoded by the caller; "@odata.type" is required in a PATCH
    # (https://learn.microsoft.com/graph/api/resources/plannerexternalreferences).
    references: dict[str, Any] = {
        ref.key: {"@odata.type": "microsoft.graph.externalReference", "alias": ref.alias, "type": ref.type}
        for ref in fields.references
    }
    references.update({key: None for key in fields.remove_references})  # null removes a reference
    if references:
        body["references"] = references
    return body


async def list_plans(client: GraphClient, group_id: str) -> list[PlannerPlan]:
    return [plan_from(p) for p in await items(client, f"groups/{segment(group_id)}/planner/plans")]


async def create_plan(client: GraphClient, group_id: str, title: str) -> PlannerPlan:
    data, _ = await client.call("POST", "planner/plans", plan_body(client, group_id, title))
    return plan_from(data)


def plan_body(client: GraphClient, group_id: str, title: str) -> dict[str, Any]:
    container = {
        "url": f"{client.base_url}/groups/{segment(group_id)}",
        "containerId": group_id,
        "type": "group",
    }
    return {"container": container, "title": title}


async def list_buckets(client: GraphClient, plan_id: str) -> list[PlannerBucket]:
    return [bucket_from(b) for b in await items(client, f"planner/plans/{segment(plan_id)}/buckets")]


async def create_bucket(client: GraphClient, plan_id: str, name: str) -> PlannerBucket:
    data, _ = await client.call(
        "POST", "planner/buckets", {"name": name, "planId": plan_id, "orderHint": " !"}
    )
    return bucket_from(data)


async def list_tasks(client: GraphClient, plan_id: str) -> list[PlannerTask]:
    return [task_from(t) for t in await items(client, f"planner/plans/{segment(plan_id)}/tasks")]


async def list_tasks_of_plans(client: GraphClient, plan_ids: Iterable[str]) -> dict[str, list[PlannerTask]]:
    """Tasks of many plans, one $batch call per 20 plans (ETag polling: Planner has no change
    notifications, https://learn.microsoft.com/graph/change-notifications-overview)."""
    ids = list(dict.fromkeys(plan_ids))
    responses = await run_batch(
        client,
        [BatchRequest(str(i), "GET", plan_tasks_path(pid)) for i, pid in enumerate(ids)],
    )
    out: dict[str, list[PlannerTask]] = {}
    for i, plan_id in enumerate(ids):
        out[plan_id] = [task_from(t) for t in await items(client, responses[str(i)].json() or {})]
    return out


async def get_task(client: GraphClient, task_id: str, *, version: str = "v1.0") -> PlannerTask:
    """One task; `version="beta"` reads the beta representation, the only one with
    `creationSource` (a task published from Teams: `PlannerTask.publication`)."""
    path = f"planner/tasks/{segment(task_id)}"
    data, _ = await client.call("GET", path if version == "v1.0" else f"{client.root(version)}/{path}")
    return task_from(data)


async def create_task(client: GraphClient, plan_id: str, fields: TaskFields) -> PlannerTask:
    if not fields.title:
        raise ValueError("a new Planner task needs a title")
    data, _ = await client.call("POST", "planner/tasks", {"planId": plan_id, **task_body(fields)})
    return task_from(data)


async def update_task(client: GraphClient, task_id: str, etag: str, fields: TaskFields) -> PlannerTask:
    """PATCH with If-Match; raises PreconditionFailed when `etag` is stale."""
    data, _ = await client.call(
        "PATCH", f"planner/tasks/{segment(task_id)}", task_body(fields), {"If-Match": etag, **_RETURN}
    )
    return task_from(data) if data else await get_task(client, task_id)


async def delete_task(client: GraphClient, task_id: str, etag: str) -> None:
    await client.call("DELETE", f"planner/tasks/{segment(task_id)}", None, {"If-Match": etag})


async def get_task_details(client: GraphClient, task_id: str) -> PlannerTaskDetails:
    data, _ = await client.call("GET", f"planner/tasks/{segment(task_id)}/details")
    return details_from(task_id, data)


async def update_task_details(
    client: GraphClient, task_id: str, etag: str, fields: TaskDetailsFields
) -> PlannerTaskDetails:
    data, _ = await client.call(
        "PATCH",
        f"planner/tasks/{segment(task_id)}/details",
        details_body(fields),
        {"If-Match": etag, **_RETURN},
    )
    return details_from(task_id, data) if data else await get_task_details(client, task_id)


def completed_by_from(data: dict[str, Any]) -> str | None:
    """`completedBy.user.id` (None when open, or completed by an application)."""
    who = data.get("completedBy") or {}
    user = who.get("user") if isinstance(who, dict) else None
    return str(user["id"]) if isinstance(user, dict) and user.get("id") else None


async def read_task_bundle(
    client: GraphClient, task_id: str, plan_id: str | None = None
) -> tuple[PlannerTask, str | None, PlannerTaskDetails, list[PlannerBucket]] | None:
    """The task, who completed it, its details and its plan's buckets in ONE `$batch` call (the task
    mirror reads all of them for every pair it decides). None when the task no longer exists."""
    requests = [
        BatchRequest("task", "GET", f"/planner/tasks/{segment(task_id)}"),
        BatchRequest("details", "GET", f"/planner/tasks/{segment(task_id)}/details"),
    ]
    if plan_id:
        requests.append(BatchRequest("buckets", "GET", f"/planner/plans/{segment(plan_id)}/buckets"))
    responses = await run_batch(client, requests)
    if responses["task"].status == 404:
        return None
    data = responses["task"].json() or {}
    task = task_from(data)
    details_response = responses["details"]
    if details_response.status == 404:  # deleted between the two reads
        return None
    details = details_from(task_id, details_response.json() or {})
    if plan_id:
        buckets = [bucket_from(b) for b in await items(client, responses["buckets"].json() or {})]
    else:
        buckets = await list_buckets(client, task.plan_id)
    return task, completed_by_from(data), details, buckets


async def update_task_fields(
    client: GraphClient, task_id: str, etag: str, fields: TaskFields, *, clear_due: bool = False
) -> PlannerTask:
    """`update_task`, able to remove the due date (`dueDateTime: null`)."""
    body = task_body(fields)
    if clear_due:
        body["dueDateTime"] = None
    data, _ = await client.call(
        "PATCH", f"planner/tasks/{segment(task_id)}", body, {"If-Match": etag, **_RETURN}
    )
    return task_from(data) if data else await get_task(client, task_id)


async def get_task_beta(client: GraphClient, task_id: str) -> PlannerTask | None:
    """The task as beta shows it (with `recurrence`); None when it no longer exists."""
    data = await client.get_or_none(f"{client.root('beta')}/planner/tasks/{segment(task_id)}")
    return None if data is None else task_from(data)


async def set_task_schedule(
    client: GraphClient, task_id: str, etag: str, schedule: PlannerSchedule | None
) -> PlannerTask:
    """Start (or stop, `None`) the task's recurrence: a beta-only PATCH of `recurrence.schedule`
    with If-Match (https://learn.microsoft.com/graph/api/resources/plannertaskrecurrence?view=graph-rest-beta:
    "to cancel recurrence, clients set the same schedule to null")."""
    data, _ = await client.call(
        "PATCH",
        f"{client.root('beta')}/planner/tasks/{segment(task_id)}",
        schedule_body(schedule),
        {"If-Match": etag, **_RETURN},
    )
    return task_from(data) if data else await get_task(client, task_id)

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
    PlannerTask,
    PlannerTaskDetails,
    TaskDetailsFields,
    TaskFields,
)
from shared.graph.batch import BatchRequest, run_batch
from shared.graph.client import GraphClient
from shared.graph.teams import plan_from

_RETURN = {"Prefer": "return=representation"}


def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def task_from(data: dict[str, Any]) -> PlannerTask:
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
    )


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
    return PlannerTaskDetails(
        task_id=task_id,
        description=str(data.get("description") or ""),
        checklist=tuple(items),
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
    return body


async def _pages(client: GraphClient, url: str | None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while url:
        page, _ = await client.call("GET", url)
        items.extend(page.get("value", []))
        url = page.get("@odata.nextLink")
    return items


async def list_plans(client: GraphClient, group_id: str) -> list[PlannerPlan]:
    return [plan_from(p) for p in await _pages(client, f"groups/{segment(group_id)}/planner/plans")]


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
    return [bucket_from(b) for b in await _pages(client, f"planner/plans/{segment(plan_id)}/buckets")]


async def create_bucket(client: GraphClient, plan_id: str, name: str) -> PlannerBucket:
    data, _ = await client.call(
        "POST", "planner/buckets", {"name": name, "planId": plan_id, "orderHint": " !"}
    )
    return bucket_from(data)


async def list_tasks(client: GraphClient, plan_id: str) -> list[PlannerTask]:
    return [task_from(t) for t in await _pages(client, f"planner/plans/{segment(plan_id)}/tasks")]


async def list_tasks_of_plans(client: GraphClient, plan_ids: Iterable[str]) -> dict[str, list[PlannerTask]]:
    """Tasks of many plans, one $batch call per 20 plans (ETag polling: Planner has no change
    notifications, https://learn.microsoft.com/graph/change-notifications-overview)."""
    ids = list(dict.fromkeys(plan_ids))
    responses = await run_batch(
        client,
        [BatchRequest(str(i), "GET", f"/planner/plans/{segment(pid)}/tasks") for i, pid in enumerate(ids)],
    )
    out: dict[str, list[PlannerTask]] = {}
    for i, plan_id in enumerate(ids):
        page = responses[str(i)].json() or {}
        rows = list(page.get("value", [])) + await _pages(client, page.get("@odata.nextLink"))
        out[plan_id] = [task_from(t) for t in rows]
    return out


async def get_task(client: GraphClient, task_id: str) -> PlannerTask:
    data, _ = await client.call("GET", f"planner/tasks/{segment(task_id)}")
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
        page = responses["buckets"].json() or {}
        rows = list(page.get("value", [])) + await _pages(client, page.get("@odata.nextLink"))
        buckets = [bucket_from(b) for b in rows]
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

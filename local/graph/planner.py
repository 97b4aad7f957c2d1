"""Planner: plans in a group, buckets, tasks and task details, with Planner's ETag rules.

- https://learn.microsoft.com/graph/api/resources/planner-overview : every object carries
  ``@odata.etag``; PATCH and DELETE need ``If-Match`` (missing → 400 "The If-Match header must be
  specified for this kind of request.", seen in https://github.com/pnp/pnpjs/issues/841), a stale
  value → 412; ``Prefer: return=representation`` → 200 with the object, else 204.
- Limits → 403 with the limit's code: https://learn.microsoft.com/office365/planner/planner-limits
  (newer copy: 9,000 tasks and 3,000 active tasks per plan, 200 buckets, 400 plans per group,
  20 assignees, 20 checklist items, 15 references).
- v1.0 ``plannerTask`` has no ``lastModifiedDateTime`` (msgraph-sdk's model has none); the sandbox
  keeps it privately and shows it only on ``/beta``.
- A task published from Teams (Tasks by Planner -> Published lists; made here only through the side
  channel, ``act("publish-task")``: no Graph API publishes, reference/graph-apis.md "Task
  publishing") carries ``creationSource`` = ``plannerTeamsPublicationInfo``, shown **only on
  /beta** ("creationSource appears only in the beta plannerTask representation";
  https://learn.microsoft.com/en-us/graph/api/resources/plannerteamspublicationinfo), and
  "can't be deleted" (same page): a DELETE answers 403. The status is the planner-overview's for
  an operation the caller may not do; the error code and message Graph sends are [unconfirmed].
  Which fields a published task blocks ("users might be blocked from editing certain fields") is
  not documented, so PATCH is not restricted.
- ``recurrence`` is kept privately too and shown only on ``/beta`` (a series that continues itself
  on completion or deletion: recurrence.py).
"""

from __future__ import annotations

import re
import secrets
import time
import urllib.parse
from typing import Any

from .core import Router, Sandbox
from .errors import GraphError, now_iso
from .planner_delta import plan_tasks_delta
from .recurrence import apply_recurrence, continues, next_task
from .recurrence import view as recurrence_view
from .wire import Req, Resp, collection, entity, page_params, public

APP_ID = "5a6b1c7e-0000-4000-8000-00000000a99e"  # the sandbox's single calling application
LIMITS = {
    "tasks": (9000, "MaximumTasksInProject"),
    "active": (3000, "MaximumActiveTasksInProject"),
    "buckets": (200, "MaximumBucketsInProject"),
    "plans": (400, "MaximumProjectsOwnedByUser"),
    "assignees": (20, "MaximumAssigneesInTasks"),
    "checklist": (20, "MaximumChecklistItemsOnTask"),
    "references": (15, "MaximumReferencesOnTask"),
}
_TASK_FIELDS = ("title", "bucketId", "orderHint", "assigneePriority", "percentComplete", "startDateTime",
                "dueDateTime", "priority", "conversationThreadId", "previewType")  # fmt: skip
_last_etag = 0


def new_etag() -> str:
    """Weak ETags that grow in ordinal string order, as Planner's do for one resource."""
    global _last_etag
    _last_etag = max(time.time_ns(), _last_etag + 1)
    return f'W/"JzEt{_last_etag:020d}Jyc="'


def _limit(name: str, count: int) -> None:
    limit, code = LIMITS[name]
    if count > limit:
        raise GraphError(403, code, f"The limit of {limit} for {name} has been reached ({code}).")


def _identity(user_id: str | None) -> dict[str, Any]:
    if user_id:
        return {"user": {"displayName": None, "id": user_id}}
    return {"application": {"displayName": None, "id": APP_ID}}


def _save(sb: Sandbox, kind: str, obj: dict[str, Any], parent: str | None) -> dict[str, Any]:
    obj["@odata.etag"] = new_etag()
    obj["_lastModifiedAt"] = now_iso()
    sb.store.put(kind, obj, parent=parent)
    if kind == "task":  # the log the beta task delta reads (planner_delta.py)
        sb.store.log_task_change(obj["planId"], obj["id"], sb.now())
    return obj


def _get(sb: Sandbox, kind: str, ident: str) -> dict[str, Any]:
    obj = sb.store.get(kind, ident)
    if obj is None or (kind == "plan" and sb.store.get("group", obj["container"]["containerId"]) is None):
        raise GraphError(404, "", "The requested item is not found.")
    if kind != "plan" and "planId" in obj:
        _get(sb, "plan", obj["planId"])  # a plan (and its content) disappears with its group
    return obj


def _check_if_match(req: Req, obj: dict[str, Any]) -> None:
    value = req.header("if-match")
    if not value:
        raise GraphError(400, "", "The If-Match header must be specified for this kind of request.")
    if not (value.startswith('W/"') or value.startswith('"')) and value != "*":
        raise GraphError(400, "", "The If-Match header contains an invalid value.")
    if value != "*" and value != obj["@odata.etag"]:
        raise GraphError(
            412,
            "PreconditionFailed",
            "The If-Match header value does not match the current ETag of the resource.",
        )


def _view(req: Req, data: dict[str, Any]) -> dict[str, Any]:
    if not req.base.endswith("/beta"):
        return data
    beta = {**data, "lastModifiedDateTime": data["_lastModifiedAt"]} if "_lastModifiedAt" in data else data
    if "planId" in data and "percentComplete" in data:  # a task: beta adds creationSource (or null)
        beta = {**beta, "creationSource": data.get("_creationSource")}
        beta = {**beta, "recurrence": recurrence_view(data)}  # beta has `recurrence` (or null)
    return beta


def _recurrence_change(req: Req, task: dict[str, Any], body: dict[str, Any]) -> None:
    if "recurrence" not in body:
        return
    if not req.base.endswith("/beta"):
        # v1.0 plannerTask has no such property; OData refuses an unknown one.
        raise GraphError(
            400, "", "Could not find a property named 'recurrence' on type 'microsoft.graph.plannerTask'."
        )
    apply_recurrence(task, body["recurrence"])


def _continue_series(sb: Sandbox, task: dict[str, Any]) -> None:
    """Planner creates the task that continues `task`'s series (it was completed or deleted)."""
    _limit("tasks", sb.store.count("task", parent=task["planId"]) + 1)
    details = sb.store.get("details", task["id"])
    fresh, fresh_details = next_task(task, details, secrets.token_urlsafe(21), now_iso())
    _save(sb, "task", fresh, task["planId"])
    _save(sb, "details", fresh_details, fresh["id"])
    task["_recurrence"] = {**task["_recurrence"], "nextInSeriesTaskId": fresh["id"]}


def _written(req: Req, ctx: str, obj: dict[str, Any]) -> Resp:
    return entity(req, ctx, _view(req, obj)) if req.prefers_representation() else Resp(204)


# -- plans and buckets --------------------------------------------------------------------------
async def create_plan(sb: Sandbox, req: Req) -> Resp:
    body = req.json_body()
    container = body.get("container") or {}
    group_id = (
        container.get("containerId")
        or body.get("owner")
        or (container.get("url") or "").rstrip("/").split("/")[-1]
    )
    group = sb.store.get("group", group_id or "")
    if group is None:
        raise GraphError(404, "", "The requested item is not found.")
    if not body.get("title"):
        raise GraphError(400, "", "The title field is required.")
    _limit("plans", sb.store.count("plan", parent=group_id) + 1)
    plan = {
        "id": secrets.token_urlsafe(21),
        "title": body["title"],
        "owner": group_id,
        "createdDateTime": now_iso(),
        "createdBy": _identity(None),
        "container": {
            "containerId": group_id,
            "type": "group",
            "url": f"https://graph.microsoft.com/v1.0/groups/{group_id}",
        },
    }
    return entity(req, "planner/plans", _save(sb, "plan", plan, group_id), status=201)


async def list_group_plans(sb: Sandbox, req: Req) -> Resp:
    from .teams import group_or_404

    group_or_404(sb, req.params["id"])
    return collection(
        req,
        f"groups('{req.params['id']}')/planner/plans",
        sb.store.query("plan", parent=req.params["id"]),
        10_000,
    )


async def get_plan(sb: Sandbox, req: Req) -> Resp:
    return entity(req, "planner/plans", _get(sb, "plan", req.params["id"]))


async def patch_plan(sb: Sandbox, req: Req) -> Resp:
    plan = _get(sb, "plan", req.params["id"])
    _check_if_match(req, plan)
    if "title" in req.json_body():
        plan["title"] = req.body["title"]
    return _written(req, "planner/plans", _save(sb, "plan", plan, plan["owner"]))


async def create_bucket(sb: Sandbox, req: Req) -> Resp:
    body = req.json_body()
    plan = _get(sb, "plan", str(body.get("planId")))
    _limit("buckets", sb.store.count("bucket", parent=plan["id"]) + 1)
    bucket = {
        "id": secrets.token_urlsafe(21),
        "name": body.get("name") or "",
        "planId": plan["id"],
        "orderHint": body.get("orderHint") or "8585 !",
    }
    return entity(req, "planner/buckets", _save(sb, "bucket", bucket, plan["id"]), status=201)


async def list_buckets(sb: Sandbox, req: Req) -> Resp:
    plan = _get(sb, "plan", req.params["id"])
    return collection(
        req, f"planner/plans('{plan['id']}')/buckets", sb.store.query("bucket", parent=plan["id"]), 10_000
    )


async def get_bucket(sb: Sandbox, req: Req) -> Resp:
    return entity(req, "planner/buckets", _get(sb, "bucket", req.params["id"]))


async def patch_bucket(sb: Sandbox, req: Req) -> Resp:
    bucket = _get(sb, "bucket", req.params["id"])
    _check_if_match(req, bucket)
    for key in ("name", "orderHint"):
        if key in req.json_body():
            bucket[key] = req.body[key]
    return _written(req, "planner/buckets", _save(sb, "bucket", bucket, bucket["planId"]))


async def delete_bucket(sb: Sandbox, req: Req) -> Resp:
    bucket = _get(sb, "bucket", req.params["id"])
    _check_if_match(req, bucket)
    sb.store.remove("bucket", bucket["id"])
    return Resp(204)


# -- tasks --------------------------------------------------------------------------------------
def _apply_task_changes(
    sb: Sandbox, task: dict[str, Any], changes: dict[str, Any], actor: str | None
) -> None:
    for key in _TASK_FIELDS:
        if key in changes:
            task[key] = changes[key]
    if "bucketId" in changes and changes["bucketId"] and sb.store.get("bucket", changes["bucketId"]) is None:
        raise GraphError(400, "", "The bucket does not exist.")
    if isinstance(changes.get("appliedCategories"), dict):
        task["appliedCategories"] = {**task["appliedCategories"], **changes["appliedCategories"]}
    if isinstance(changes.get("assignments"), dict):
        assignments = dict(task["assignments"])
        for user_id, value in changes["assignments"].items():
            if value is None:
                assignments.pop(user_id, None)
            else:
                assignments[user_id] = {
                    "@odata.type": "#microsoft.graph.plannerAssignment",
                    "assignedDateTime": now_iso(),
                    "orderHint": value.get("orderHint", " !"),
                    "assignedBy": _identity(actor),
                }
        _limit("assignees", len(assignments))
        task["assignments"] = assignments
    if "percentComplete" in changes:
        pct = changes["percentComplete"]
        if not isinstance(pct, int) or not 0 <= pct <= 100:
            raise GraphError(400, "", "percentComplete must be an integer between 0 and 100.")
        if pct == 100 and not task.get("completedDateTime"):
            task["completedDateTime"], task["completedBy"] = now_iso(), _identity(actor)
        elif pct < 100:
            task["completedDateTime"], task["completedBy"] = None, None


def _active_count(sb: Sandbox, plan_id: str) -> int:
    return sb.store.count("task", parent=plan_id, where="json_extract(data, '$.percentComplete')<100")


async def create_task(sb: Sandbox, req: Req) -> Resp:
    return entity(req, "planner/tasks", _view(req, new_task(sb, req.json_body(), None, req=req)), status=201)


def new_task(
    sb: Sandbox,
    body: dict[str, Any],
    actor: str | None,
    creation_source: dict[str, Any] | None = None,
    *,
    req: Req | None = None,
) -> dict[str, Any]:
    """POST /planner/tasks by the app (`actor` None) or, through the side channel, a person making
    a task in Planner or a list published from Teams (`creation_source`)."""
    plan = _get(sb, "plan", str(body.get("planId")))
    _limit("tasks", sb.store.count("task", parent=plan["id"]) + 1)
    if body.get("percentComplete", 0) < 100:
        _limit("active", _active_count(sb, plan["id"]) + 1)
    task: dict[str, Any] = {
        "id": secrets.token_urlsafe(21), "planId": plan["id"], "bucketId": None, "title": "",
        "orderHint": "8585 !", "assigneePriority": "", "percentComplete": 0, "startDateTime": None,
        "createdDateTime": now_iso(), "dueDateTime": None, "hasDescription": False,
        "previewType": "automatic", "completedDateTime": None, "completedBy": None, "referenceCount": 0,
        "checklistItemCount": 0, "activeChecklistItemCount": 0, "priority": 5,
        "conversationThreadId": None, "createdBy": _identity(actor), "appliedCategories": {},
        "assignments": {},
    }  # fmt: skip
    if creation_source is not None:
        task["_creationSource"] = creation_source
    _apply_task_changes(sb, task, body, actor)
    if req is not None:
        _recurrence_change(req, task, body)
    with sb.store.tx():
        _save(sb, "task", task, plan["id"])
        details = {
            "id": task["id"],
            "description": None,
            "previewType": "automatic",
            "references": {},
            "checklist": {},
        }
        _save(sb, "details", details, task["id"])
    return task


async def list_plan_tasks(sb: Sandbox, req: Req) -> Resp:
    if "$deltatoken" in req.query:  # a deltaLink: planner/plans('{id}')/tasks?$deltatoken=…
        return await plan_tasks_delta(sb, req)
    plan = _get(sb, "plan", req.params["id"])
    top, after = page_params(req, default=400, maximum=999)
    rows = [
        (i, _view(req, t)) for i, t in sb.store.query("task", parent=plan["id"], after=after, limit=top + 1)
    ]
    return collection(req, f"planner/plans('{plan['id']}')/tasks", rows, top)


async def get_task(sb: Sandbox, req: Req) -> Resp:
    return entity(req, "planner/tasks", _view(req, _get(sb, "task", req.params["id"])))


def publication_source(
    publication_id: str, name: str, publishing_team_id: str | None, plan_id: str
) -> dict[str, Any]:
    """The beta `creationSource` of a published task: plannerTeamsPublicationInfo (its properties
    as documented, creationSourceKind `publication`; the deprecated nested `teamsPublicationInfo`
    of plannerTaskCreation is not sent)."""
    return {
        "@odata.type": "#microsoft.graph.plannerTeamsPublicationInfo",
        "creationSourceKind": "publication",
        "publicationId": publication_id,
        "publicationName": name,
        "publishingTeamId": publishing_team_id,
        "publishedToPlanId": plan_id,
        "lastModifiedDateTime": now_iso(),
    }


def update_task(
    sb: Sandbox, task: dict[str, Any], changes: dict[str, Any], actor: str | None
) -> dict[str, Any]:
    if changes.get("percentComplete", 100) < 100 <= task["percentComplete"]:
        _limit("active", _active_count(sb, task["planId"]) + 1)
    was_done = task["percentComplete"] >= 100
    _apply_task_changes(sb, task, changes, actor)
    with sb.store.tx():
        if not was_done and task["percentComplete"] >= 100 and continues(task):
            _continue_series(sb, task)
        return _save(sb, "task", task, task["planId"])


def update_task_as(sb: Sandbox, task_id: str, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """A person edits the task in Planner (side channel): no If-Match, completedBy is the user."""
    return update_task(sb, _get(sb, "task", task_id), changes, user_id)


async def patch_task(sb: Sandbox, req: Req) -> Resp:
    task = _get(sb, "task", req.params["id"])
    _check_if_match(req, task)
    body = req.json_body()
    _recurrence_change(req, task, body)
    return _written(req, "planner/tasks", update_task(sb, task, body, None))


async def delete_task(sb: Sandbox, req: Req) -> Resp:
    task = _get(sb, "task", req.params["id"])
    _check_if_match(req, task)
    _refuse_published(task)
    _remove_task(sb, task)
    return Resp(204)


def _refuse_published(task: dict[str, Any]) -> None:
    """Published tasks "can't be deleted" (plannerteamspublicationinfo, module doc): 403; the code
    and message are [unconfirmed]."""
    if task.get("_creationSource"):
        raise GraphError(403, "Forbidden", "This task was published to this plan and can't be deleted.")


def delete_task_as(sb: Sandbox, task_id: str) -> dict[str, Any]:
    """A person deletes the task in Planner (side channel); a published task refuses them too."""
    task = _get(sb, "task", task_id)
    _refuse_published(task)
    _remove_task(sb, task)
    return {"deleted": task["id"]}


def _remove_task(sb: Sandbox, task: dict[str, Any]) -> None:
    with sb.store.tx():
        if continues(task):  # deleted without cancelling the recurrence: the series goes on
            _continue_series(sb, task)
        sb.store.remove("task", task["id"])
        sb.store.remove("details", task["id"])
        sb.store.log_task_change(task["planId"], task["id"], sb.now())


# -- task details -------------------------------------------------------------------------------
def _merge_map(current: dict[str, Any], changes: dict[str, Any], item_type: str) -> dict[str, Any]:
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            item = {**merged.get(key, {}), **public(value), "@odata.type": item_type}
            item["lastModifiedDateTime"] = now_iso()
            item["lastModifiedBy"] = _identity(None)
            item.setdefault("orderHint", "8585 !")
            merged[key] = item
    return merged


_UNENCODED = re.compile(r"[.:@#]|%(?![0-9A-Fa-f]{2})")


def _check_references(changes: dict[str, Any]) -> None:
    """https://learn.microsoft.com/graph/api/resources/plannerexternalreferences: the keys are URLs
    (http/https) with `.`, `:`, `%`, `@`, `#` encoded; "@odata.type" is required in a PATCH that
    edits one. The wording of Planner's 400 is not published; these say what is wrong."""
    for key, value in changes.items():
        if _UNENCODED.search(key):
            raise GraphError(400, "", f"The reference key '{key}' must encode the characters . : % @ #.")
        decoded = urllib.parse.unquote(key)
        if not re.match(r"^https?://", decoded, flags=re.IGNORECASE):
            raise GraphError(400, "", "A reference key must be an http or https URL.")
        if value is not None and (not isinstance(value, dict) or "@odata.type" not in value):
            raise GraphError(400, "", "A reference needs @odata.type microsoft.graph.externalReference.")


async def get_details(sb: Sandbox, req: Req) -> Resp:
    _get(sb, "task", req.params["id"])
    return entity(req, "planner/tasks/details", _get(sb, "details", req.params["id"]))


async def patch_details(sb: Sandbox, req: Req) -> Resp:
    task = _get(sb, "task", req.params["id"])
    details = _get(sb, "details", req.params["id"])
    _check_if_match(req, details)
    body = req.json_body()
    if "description" in body:
        details["description"] = body["description"]
    if "previewType" in body:
        details["previewType"] = body["previewType"]
    if isinstance(body.get("checklist"), dict):
        details["checklist"] = _merge_map(
            details["checklist"], body["checklist"], "#microsoft.graph.plannerChecklistItem"
        )
        for item in details["checklist"].values():
            item.setdefault("isChecked", False)
        _limit("checklist", len(details["checklist"]))
    if isinstance(body.get("references"), dict):
        _check_references(body["references"])
        details["references"] = _merge_map(
            details["references"], body["references"], "#microsoft.graph.plannerExternalReference"
        )
        _limit("references", len(details["references"]))
    with sb.store.tx():
        _save(sb, "details", details, task["id"])
        task["hasDescription"] = bool(details["description"])
        task["checklistItemCount"] = len(details["checklist"])
        task["activeChecklistItemCount"] = sum(
            1 for i in details["checklist"].values() if not i.get("isChecked")
        )
        task["referenceCount"] = len(details["references"])
        _save(sb, "task", task, task["planId"])
    return _written(req, "planner/tasks/details", details)


def register(router: Router) -> None:
    router.add("POST", "/planner/plans", create_plan)
    router.add("GET", "/groups/{id}/planner/plans", list_group_plans)
    router.add("GET", "/planner/plans/{id}", get_plan)
    router.add("PATCH", "/planner/plans/{id}", patch_plan)
    router.add("GET", "/planner/plans/{id}/buckets", list_buckets)
    router.add("GET", "/planner/plans/{id}/tasks", list_plan_tasks)
    router.add("GET", "/planner/plans/{id}/tasks/delta", plan_tasks_delta)
    router.add("POST", "/planner/buckets", create_bucket)
    router.add("GET", "/planner/buckets/{id}", get_bucket)
    router.add("PATCH", "/planner/buckets/{id}", patch_bucket)
    router.add("DELETE", "/planner/buckets/{id}", delete_bucket)
    router.add("POST", "/planner/tasks", create_task)
    router.add("GET", "/planner/tasks/{id}", get_task)
    router.add("PATCH", "/planner/tasks/{id}", patch_task)
    router.add("DELETE", "/planner/tasks/{id}", delete_task)
    router.add("GET", "/planner/tasks/{id}/details", get_details)
    router.add("PATCH", "/planner/tasks/{id}/details", patch_details)

"""Microsoft To Do (v1.0): a user's task lists and their tasks, with todoTask change notifications.

Routes under ``/users/{id|userPrincipalName}/todo/lists`` (app permission Tasks.ReadWrite.All):
- https://learn.microsoft.com/graph/api/resources/todo : lists; every mailbox has the default list
  "Tasks" (``wellknownListName: defaultList``; created lazily here), others are ``none``
  (https://learn.microsoft.com/graph/api/todo-list-lists, todo-post-lists → 201).
- https://learn.microsoft.com/graph/api/resources/todotask : task shape; ``status`` is one of
  notStarted/inProgress/completed/waitingOnOthers/deferred; ``dueDateTime``/``completedDateTime``
  are dateTimeTimeZone; create → 201 (todotasklist-post-tasks, with ``linkedResources``), PATCH
  → 200 with the task (todotask-update), DELETE → 204. No If-Match needed; ``@odata.etag`` changes
  on every write.
- Unknown list/task → 404 ``ErrorItemNotFound`` (the mailbox store's error, seen on
  ``/v1.0/me/todo/lists/{id}`` in https://github.com/RogerSelwyn/MS365-ToDo/issues/112); unknown
  user → 404 ``ErrorInvalidUser`` (mailbox APIs, e.g.
  https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/5460).
- ``GET …/todo/lists`` without ``$top`` answers one page and no ``@odata.nextLink``
  (https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/595: 16 lists); with
  ``$top`` it pages normally. Task pages default to 10 [unconfirmed: Outlook's usual default].
- ``completedDateTime`` is midnight UTC of the completion day
  (https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/8664); To Do keeps only the
  date of ``dueDateTime``: the todotask-update example answers 16:00 Eastern as 04:00 UTC.
- Change notifications on ``/users/{id}/todo/lists/{listId}/tasks`` for created/updated/deleted
  (https://learn.microsoft.com/azure/event-grid/to-do-events: one subscription per task list).

Side-channel actions (``ACTIONS``, registered in ``act.py``): ``todo-update`` and ``todo-delete``.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .core import Router, Sandbox
from .errors import GraphError, now_iso
from .filters import compile_filter
from .users import resolve_user
from .wire import Req, Resp, collection, entity, page_params

LIST, TASK = "todoList", "todoTask"
DEFAULT_LIST = "Tasks"
STATUSES = ("notStarted", "inProgress", "completed", "waitingOnOthers", "deferred")
IMPORTANCES = ("low", "normal", "high")
LISTS_PAGE_WITHOUT_TOP = 16
TASKS_PAGE = 10
# todoTask's properties and relationships (resource page); anything else is an OData read error.
_TASK_PROPERTIES = {
    "id", "body", "bodyLastModifiedDateTime", "categories", "completedDateTime", "createdDateTime",
    "dueDateTime", "hasAttachments", "importance", "isReminderOn", "lastModifiedDateTime", "recurrence",
    "reminderDateTime", "startDateTime", "status", "title", "attachments", "checklistItems",
    "extensions", "linkedResources",
}  # fmt: skip
_DATE_FIELDS = ("dueDateTime", "reminderDateTime", "startDateTime", "completedDateTime")
_last_change = 0


# -- ids, etags, dates ----------------------------------------------------------------------------
def _new_id() -> str:
    """Exchange-style ids: URL-safe base64 with padding (``AAMkAD…=``)."""
    return base64.urlsafe_b64encode(b"\x00\x03\x24\x00" + secrets.token_bytes(43)).decode()


def _new_etag() -> str:
    """Weak ETag over a change key (``W/"xzyPKP0BiUGgld+lMKXwbQAAnBoTIw=="``); new on every write."""
    global _last_change
    _last_change = max(time.time_ns(), _last_change + 1)
    key = secrets.token_bytes(16) + _last_change.to_bytes(8, "big")[-6:]
    return f'W/"{base64.b64encode(key).decode()}"'


def _bad_body(message: str) -> GraphError:
    # OData deserialisation errors [unconfirmed wording for To Do]: code RequestBodyRead.
    return GraphError(400, "RequestBodyRead", message)


def _wall(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"


def _zone(name: str) -> ZoneInfo | None:
    if name.upper() in ("UTC", "GMT"):
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None  # e.g. Windows names ("Eastern Standard Time"): kept as given (see docs)


def date_time_tz(value: Any, field: str, *, date_only: bool = False) -> dict[str, str] | None:
    """Validate and normalise a dateTimeTimeZone (7 fraction digits; resolvable zones → UTC)."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise _bad_body(
            f"Cannot convert the literal value to the expected type 'dateTimeTimeZone' ({field})."
        )
    # Graph writes 7 fraction digits; Python reads at most 6.
    raw = re.sub(r"\.(\d{6})\d+", r".\1", value["dateTime"].replace("Z", "+00:00"))
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise _bad_body(f"Cannot convert the literal '{value['dateTime']}' to a date and time.") from None
    zone_name = str(value.get("timeZone") or "UTC")
    if when.tzinfo is not None:  # an explicit offset wins over timeZone
        when, zone_name = when.astimezone(UTC).replace(tzinfo=None), "UTC"
    if date_only:
        when = when.replace(hour=0, minute=0, second=0, microsecond=0)
    zone = _zone(zone_name)
    if zone is None:
        return {"dateTime": _wall(when), "timeZone": zone_name}
    utc = when.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
    return {"dateTime": _wall(utc), "timeZone": "UTC"}


def _completed_now() -> dict[str, str]:
    # Midnight UTC of the completion day: docs-contrib issue 8664 (see module docstring).
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    return {"dateTime": _wall(today), "timeZone": "UTC"}


# -- lookups --------------------------------------------------------------------------------------
def _item_not_found() -> GraphError:
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def todo_user(sb: Sandbox, ident: str) -> dict[str, Any]:
    user = resolve_user(sb, ident)
    if user is None:
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{ident}' is invalid.")
    return user


def _ensure_default_list(sb: Sandbox, user: dict[str, Any]) -> None:
    if sb.store.count(
        LIST, parent=user["id"], where="json_extract(data, '$.wellknownListName')='defaultList'"
    ):
        return
    _save_list(sb, user, {"id": _new_id(), "displayName": DEFAULT_LIST, "wellknownListName": "defaultList"})


def _save_list(sb: Sandbox, user: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    todo_list = {"isOwner": True, "isShared": False, "wellknownListName": "none", **data}
    todo_list["@odata.etag"] = _new_etag()
    todo_list["_userId"] = user["id"]
    sb.store.put(LIST, todo_list, parent=user["id"])
    return todo_list


def user_list(sb: Sandbox, user: dict[str, Any], list_id: str) -> dict[str, Any]:
    found = sb.store.get(LIST, list_id)
    if found is None or found["_userId"] != user["id"]:
        raise _item_not_found()
    return found


def list_task(sb: Sandbox, lst: dict[str, Any], task_id: str) -> dict[str, Any]:
    found = sb.store.get(TASK, task_id)
    if found is None or found["_listId"] != lst["id"]:
        raise _item_not_found()
    return found


def _user_and_list(sb: Sandbox, req: Req) -> tuple[dict[str, Any], dict[str, Any]]:
    user = todo_user(sb, req.params["id"])
    return user, user_list(sb, user, req.params["listId"])


def _lists_ctx(user: dict[str, Any]) -> str:
    return f"users('{user['id']}')/todo/lists"


def _tasks_ctx(user: dict[str, Any], list_id: str) -> str:
    return f"users('{user['id']}')/todo/lists('{list_id}')/tasks"


def _filter(req: Req) -> tuple[str, list[Any]]:
    return compile_filter(req.query["$filter"]) if req.query.get("$filter") else ("", [])


# -- lists ----------------------------------------------------------------------------------------
async def list_lists(sb: Sandbox, req: Req) -> Resp:
    user = todo_user(sb, req.params["id"])
    _ensure_default_list(sb, user)
    where, args = _filter(req)
    if "$top" not in req.query and "$skiptoken" not in req.query:
        # One page and no nextLink without $top (docs-contrib issue 595, see module docstring).
        rows = sb.store.query(LIST, parent=user["id"], where=where, args=args, limit=LISTS_PAGE_WITHOUT_TOP)
        return collection(req, _lists_ctx(user), rows, LISTS_PAGE_WITHOUT_TOP)
    top, after = page_params(req, default=LISTS_PAGE_WITHOUT_TOP, maximum=999)
    rows = sb.store.query(LIST, parent=user["id"], where=where, args=args, after=after, limit=top + 1)
    return collection(req, _lists_ctx(user), rows, top)


def _display_name(body: dict[str, Any]) -> str:
    name = body.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise GraphError(400, "invalidRequest", "Invalid request: displayName is required.")
    return name


async def create_list(sb: Sandbox, req: Req) -> Resp:
    user = todo_user(sb, req.params["id"])
    name = _display_name(req.json_body())
    with sb.store.tx():
        _ensure_default_list(sb, user)  # the default list exists before any other
        created = _save_list(sb, user, {"id": _new_id(), "displayName": name})
    return entity(req, _lists_ctx(user), created, status=201)


async def get_list(sb: Sandbox, req: Req) -> Resp:
    user, found = _user_and_list(sb, req)
    return entity(req, _lists_ctx(user), found)


async def patch_list(sb: Sandbox, req: Req) -> Resp:
    user, found = _user_and_list(sb, req)
    body = req.json_body()
    if "displayName" in body:
        found["displayName"] = _display_name(body)
    return entity(req, _lists_ctx(user), _save_list(sb, user, found))


async def delete_list(sb: Sandbox, req: Req) -> Resp:
    _, found = _user_and_list(sb, req)
    if found["wellknownListName"] == "defaultList":
        # To Do cannot delete its default list [unconfirmed code: Exchange's distinguished-folder error].
        raise GraphError(400, "ErrorDeleteDistinguishedFolder", "Distinguished folders cannot be deleted.")
    with sb.store.tx():
        sb.store.remove_children(TASK, found["id"])
        sb.store.remove(LIST, found["id"])
    return Resp(204)


# -- tasks ----------------------------------------------------------------------------------------
def _check_properties(body: dict[str, Any]) -> None:
    for key in body:
        if key not in _TASK_PROPERTIES and not key.startswith("@") and "@odata." not in key:
            raise _bad_body(
                f"The property '{key}' does not exist on type 'microsoft.graph.todoTask'. Make sure to only "
                "use property names that are defined by the type or mark the type as open type."
            )


def _enum(value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise _bad_body(f"Requested value '{value}' was not found.")
    return str(value)


def apply_changes(task: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Apply a PATCH (or create) body to ``task`` in place; validation errors are 400s."""
    _check_properties(changes)
    now = now_iso()
    if "title" in changes:
        task["title"] = str(changes["title"] or "")
    if "body" in changes:
        body = changes["body"] or {}
        content_type = str(body.get("contentType") or "text").lower()
        if content_type not in ("text", "html"):
            raise _bad_body(f"Requested value '{body.get('contentType')}' was not found.")
        task["body"] = {"content": str(body.get("content") or ""), "contentType": content_type}
        task["bodyLastModifiedDateTime"] = now
    if "importance" in changes:
        task["importance"] = _enum(changes["importance"], IMPORTANCES)
    if "isReminderOn" in changes:
        task["isReminderOn"] = bool(changes["isReminderOn"])
    if "categories" in changes:
        task["categories"] = [str(c) for c in changes["categories"] or []]
    for field in _DATE_FIELDS:
        if field in changes:
            value = date_time_tz(changes[field], field, date_only=field == "dueDateTime")
            if value is None:
                task.pop(field, None)
            else:
                task[field] = value
    if "status" in changes:
        was_completed = task.get("status") == "completed"
        task["status"] = _enum(changes["status"], STATUSES)
        if task["status"] == "completed" and not was_completed and "completedDateTime" not in changes:
            task["completedDateTime"] = _completed_now()
    if task.get("status") != "completed":
        task.pop("completedDateTime", None)  # completedDateTime only describes a completed task
    task["lastModifiedDateTime"] = now
    task["@odata.etag"] = _new_etag()
    return task


def _linked_resources(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _bad_body("linkedResources must be a collection of linkedResource.")
    keep = ("webUrl", "applicationName", "displayName", "externalId")
    return [{"id": str(uuid.uuid4()), **{k: item.get(k) for k in keep if k in item}} for item in value]


def _publish(sb: Sandbox, user: dict[str, Any], task: dict[str, Any], change_type: str) -> None:
    sb.publish(
        {
            "kind": "todoTask",
            "changeType": change_type,
            "userId": user["id"],
            "upn": user.get("userPrincipalName"),
            "listId": task["_listId"],
            "id": task["id"],
            "etag": task["@odata.etag"] if change_type != "deleted" else None,
        }
    )


def create_task(
    sb: Sandbox, user: dict[str, Any], lst: dict[str, Any], body: dict[str, Any]
) -> dict[str, Any]:
    now = now_iso()
    task: dict[str, Any] = {
        "importance": "normal", "isReminderOn": False, "status": "notStarted", "title": "",
        "createdDateTime": now, "lastModifiedDateTime": now, "bodyLastModifiedDateTime": now,
        "hasAttachments": False, "categories": [], "id": _new_id(),
        "body": {"content": "", "contentType": "text"},
    }  # fmt: skip
    changes = {k: v for k, v in body.items() if k not in ("id", "linkedResources")}
    apply_changes(task, changes)
    links = _linked_resources(body.get("linkedResources"))
    if links:
        task["linkedResources"] = links
    task["_userId"], task["_listId"] = user["id"], lst["id"]
    sb.store.put(TASK, task, parent=lst["id"])
    _publish(sb, user, task, "created")
    return task


def update_task(
    sb: Sandbox, user: dict[str, Any], task: dict[str, Any], changes: dict[str, Any]
) -> dict[str, Any]:
    changes = {k: v for k, v in changes.items() if k not in ("id", "linkedResources")}
    apply_changes(task, changes)
    sb.store.put(TASK, task, parent=task["_listId"])
    _publish(sb, user, task, "updated")
    return task


def delete_task(sb: Sandbox, user: dict[str, Any], task: dict[str, Any]) -> None:
    sb.store.remove(TASK, task["id"])
    _publish(sb, user, task, "deleted")


async def list_tasks(sb: Sandbox, req: Req) -> Resp:
    user, found = _user_and_list(sb, req)
    top, after = page_params(req, default=TASKS_PAGE, maximum=999)
    where, args = _filter(req)
    rows = sb.store.query(TASK, parent=found["id"], where=where, args=args, after=after, limit=top + 1)
    return collection(req, _tasks_ctx(user, found["id"]), rows, top)


async def post_task(sb: Sandbox, req: Req) -> Resp:
    user, found = _user_and_list(sb, req)
    task = create_task(sb, user, found, req.json_body())
    return entity(req, _tasks_ctx(user, found["id"]), task, status=201)


async def get_task(sb: Sandbox, req: Req) -> Resp:
    user, found = _user_and_list(sb, req)
    return entity(req, _tasks_ctx(user, found["id"]), list_task(sb, found, req.params["taskId"]))


async def patch_task(sb: Sandbox, req: Req) -> Resp:
    user, found = _user_and_list(sb, req)
    task = list_task(sb, found, req.params["taskId"])
    return entity(req, _tasks_ctx(user, found["id"]), update_task(sb, user, task, req.json_body()))


async def remove_task(sb: Sandbox, req: Req) -> Resp:
    user, found = _user_and_list(sb, req)
    delete_task(sb, user, list_task(sb, found, req.params["taskId"]))
    return Resp(204)


# -- side channel: a person edits their To Do -------------------------------------------------------
def _acted_task(sb: Sandbox, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``{userId, listId?, taskId}`` → (user, task); the task must be in one of the user's lists."""
    user = todo_user(sb, str(data.get("userId")))
    task = sb.store.get(TASK, str(data.get("taskId")))
    if task is None or task["_userId"] != user["id"] or data.get("listId") not in (None, task["_listId"]):
        raise _item_not_found()
    return user, task


def act_update(sb: Sandbox, data: dict[str, Any]) -> Any:
    """``todo-update`` {userId, listId?, taskId, changes: {status?, title?, dueDateTime?, ...}}."""
    user, task = _acted_task(sb, data)
    changes = data.get("changes")
    if not isinstance(changes, dict):
        raise GraphError(400, "BadRequest", "'changes' must be an object of todoTask properties.")
    return update_task(sb, user, task, changes)


def act_delete(sb: Sandbox, data: dict[str, Any]) -> Any:
    """``todo-delete`` {userId, listId?, taskId}."""
    user, task = _acted_task(sb, data)
    delete_task(sb, user, task)
    return {"deleted": task["id"]}


ACTIONS = {"todo-update": act_update, "todo-delete": act_delete}


def register(router: Router) -> None:
    router.add("GET", "/users/{id}/todo/lists", list_lists)
    router.add("POST", "/users/{id}/todo/lists", create_list)
    router.add("GET", "/users/{id}/todo/lists/{listId}", get_list)
    router.add("PATCH", "/users/{id}/todo/lists/{listId}", patch_list)
    router.add("DELETE", "/users/{id}/todo/lists/{listId}", delete_list)
    router.add("GET", "/users/{id}/todo/lists/{listId}/tasks", list_tasks)
    router.add("POST", "/users/{id}/todo/lists/{listId}/tasks", post_task)
    router.add("GET", "/users/{id}/todo/lists/{listId}/tasks/{taskId}", get_task)
    router.add("PATCH", "/users/{id}/todo/lists/{listId}/tasks/{taskId}", patch_task)
    router.add("DELETE", "/users/{id}/todo/lists/{listId}/tasks/{taskId}", remove_task)

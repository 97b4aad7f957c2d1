"""Microsoft To Do: a worker's task lists and tasks, through msgraph-sdk's request builders.

Permission: Tasks.ReadWrite.All (application). https://learn.microsoft.com/graph/api/resources/todo
- lists: `GET/POST /users/{id}/todo/lists`; without `$top` the list endpoint answers one page and
  no nextLink (https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/595), so we
  always page with `$top`. Writes and single reads go through the SDK's request builders;
  collections are read as raw JSON pages (see `_pages`).
- tasks: create → 201 (todotasklist-post-tasks), PATCH → 200 with the task (todotask-update),
  DELETE → 204; no If-Match. An unknown list or task is 404 `ErrorItemNotFound`.
- `dueDateTime`/`completedDateTime` are dateTimeTimeZone, zone by Windows or IANA name
  (https://learn.microsoft.com/graph/api/resources/datetimetimezone); To Do keeps the due *date*.
"""

from __future__ import annotations

import json
from contextlib import suppress
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.domain.todo import TodoFields, TodoLink, TodoList, TodoStatus, TodoTask
from shared.graph.client import GraphClient, sdk
from shared.graph.errors import NotFound
from shared.graph.paging import items

PAGE = 100


def _zone(name: str) -> tzinfo | None:
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None  # a Windows zone name ("Eastern Standard Time"): the value stays naive


def date_time_from(value: Any) -> tuple[datetime | None, str | None]:
    """(datetime, zone name) from a dateTimeTimeZone; aware when the zone is UTC or IANA."""
    if not isinstance(value, dict) or not value.get("dateTime"):
        return None, None
    when = datetime.fromisoformat(str(value["dateTime"]).replace("Z", "+00:00"))
    name = str(value.get("timeZone") or "UTC")
    zone = _zone(name)
    if zone is not None and when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return when, name


def _date_time_tz(when: datetime, zone: str) -> Any:
    from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone

    # To Do keeps only the date of dueDateTime, read in the given zone: an IANA zone travels as is
    # (dateTimeTimeZone accepts IANA names), so "midnight in Berlin" stays that day; other aware
    # values go as UTC.
    if isinstance(when.tzinfo, ZoneInfo):
        zone, when = when.tzinfo.key, when.replace(tzinfo=None)
    elif when.tzinfo is not None:
        when, zone = when.astimezone(UTC).replace(tzinfo=None), "UTC"
    return DateTimeTimeZone(date_time=when.strftime("%Y-%m-%dT%H:%M:%S"), time_zone=zone)


def as_json(model: Any) -> dict[str, Any]:
    """An SDK model as Graph's JSON, so one parser serves SDK results and raw pages alike."""
    from kiota_serialization_json.json_serialization_writer import JsonSerializationWriter

    writer = JsonSerializationWriter()
    writer.write_object_value(None, model)
    data: dict[str, Any] = json.loads(writer.get_serialized_content())
    return data


def list_from(data: dict[str, Any]) -> TodoList:
    return TodoList(
        list_id=str(data["id"]), name=str(data.get("displayName") or ""), etag=data.get("@odata.etag")
    )


def task_from(data: dict[str, Any], user_id: str, list_id: str) -> TodoTask:
    due, due_zone = date_time_from(data.get("dueDateTime"))
    completed, _ = date_time_from(data.get("completedDateTime"))
    modified = data.get("lastModifiedDateTime")
    links = tuple(
        TodoLink(
            web_url=link.get("webUrl"),
            application_name=link.get("applicationName"),
            display_name=link.get("displayName"),
            external_id=link.get("externalId"),
        )
        for link in data.get("linkedResources") or []
    )
    return TodoTask(
        task_id=str(data["id"]),
        list_id=list_id,
        user_id=user_id,
        title=str(data.get("title") or ""),
        body=str((data.get("body") or {}).get("content") or ""),
        status=TodoStatus(data.get("status") or TodoStatus.NOT_STARTED),
        due=due,
        due_time_zone=due_zone,
        completed=completed,
        last_modified=datetime.fromisoformat(modified.replace("Z", "+00:00")) if modified else None,
        links=links,
        etag=data.get("@odata.etag"),
    )


def task_body(fields: TodoFields, *, create: bool) -> Any:
    """An SDK TodoTask with only the fields that were given (`due=None` given sends null)."""
    from msgraph.generated.models.body_type import BodyType
    from msgraph.generated.models.item_body import ItemBody
    from msgraph.generated.models.linked_resource import LinkedResource
    from msgraph.generated.models.task_status import TaskStatus
    from msgraph.generated.models.todo_task import TodoTask as SdkTodoTask

    given = fields.model_fields_set
    task = SdkTodoTask()
    task.additional_data = {}
    if "title" in given:
        task.title = fields.title or ""
    if "body" in given:
        task.body = ItemBody(content=fields.body or "", content_type=BodyType.Text)
    if "status" in given and fields.status is not None:
        task.status = TaskStatus(fields.status.value)
    if "due" in given:
        if fields.due is None:
            task.additional_data["dueDateTime"] = None  # removes the due date
        else:
            task.due_date_time = _date_time_tz(fields.due, fields.due_time_zone)
    if create and fields.link is not None:
        link = fields.link
        task.linked_resources = [
            LinkedResource(
                web_url=link.web_url,
                application_name=link.application_name,
                display_name=link.display_name,
                external_id=link.external_id,
            )
        ]
    return task


def _lists(client: GraphClient, user_id: str) -> Any:
    return client.service.users.by_user_id(user_id).todo.lists


def _tasks(client: GraphClient, user_id: str, list_id: str) -> Any:
    return _lists(client, user_id).by_todo_task_list_id(list_id).tasks


# Collections are read as raw JSON (shared/graph/paging.py): msgraph-sdk spends ~13 ms of CPU per
# parsed object (entity.get_field_deserializers runs ~2,400 imports), 1.3 s for a page of 100 tasks.


def _path(user_id: str, list_id: str | None = None) -> str:
    path = f"users/{quote(user_id, safe='@')}/todo/lists"
    return f"{path}/{quote(list_id, safe='')}/tasks" if list_id is not None else path


async def list_lists(client: GraphClient, user_id: str) -> list[TodoList]:
    return [list_from(x) for x in await items(client, f"{_path(user_id)}?$top={PAGE}")]


def _named(lists: list[TodoList], name: str) -> TodoList | None:
    return next((x for x in lists if x.name == name), None)


async def ensure_list(client: GraphClient, user_id: str, name: str) -> TodoList:
    """The user's list called `name`, created when missing.

    To Do allows two lists with one name, so two callers racing may both create it: after a create
    we list again and keep the first list of that name (the same for every caller as long as the
    listing order is stable), deleting ours if it lost."""
    from msgraph.generated.models.todo_task_list import TodoTaskList

    found = _named(await list_lists(client, user_id), name)
    if found is not None:
        return found
    created = list_from(as_json(await sdk(_lists(client, user_id).post(TodoTaskList(display_name=name)))))
    winner = _named(await list_lists(client, user_id), name) or created
    if winner.list_id != created.list_id:
        with suppress(NotFound):
            await sdk(_lists(client, user_id).by_todo_task_list_id(created.list_id).delete())
    return winner


async def list_tasks(client: GraphClient, user_id: str, list_id: str) -> list[TodoTask]:
    rows = await items(client, f"{_path(user_id, list_id)}?$top={PAGE}")
    return [task_from(t, user_id, list_id) for t in rows]


async def create_task(client: GraphClient, user_id: str, list_id: str, fields: TodoFields) -> TodoTask:
    if not fields.title:
        raise ValueError("a new To Do task needs a title")
    data = await sdk(_tasks(client, user_id, list_id).post(task_body(fields, create=True)))
    return task_from(as_json(data), user_id, list_id)


async def get_task(client: GraphClient, user_id: str, list_id: str, task_id: str) -> TodoTask | None:
    """The task, or None when it (or its list) no longer exists."""
    try:
        data = await sdk(_tasks(client, user_id, list_id).by_todo_task_id(task_id).get())
    except NotFound:
        return None
    return task_from(as_json(data), user_id, list_id) if data is not None else None


async def update_task(
    client: GraphClient, user_id: str, list_id: str, task_id: str, fields: TodoFields
) -> TodoTask:
    """PATCH the given fields; Graph answers 200 with the task (read back if it ever answers 204)."""
    builder = _tasks(client, user_id, list_id).by_todo_task_id(task_id)
    data = await sdk(builder.patch(task_body(fields, create=False)))
    if data is None:
        data = await sdk(builder.get())
    return task_from(as_json(data), user_id, list_id)


async def delete_task(client: GraphClient, user_id: str, list_id: str, task_id: str) -> None:
    """Delete; a task that is already gone (404) is fine."""
    with suppress(NotFound):
        await sdk(_tasks(client, user_id, list_id).by_todo_task_id(task_id).delete())

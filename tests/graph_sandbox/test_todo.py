"""Microsoft To Do through the real msgraph-sdk: lists, tasks, paging, errors, notifications."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.linked_resource import LinkedResource
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.task_status import TaskStatus
from msgraph.generated.models.todo_task import TodoTask
from msgraph.generated.models.todo_task_list import TodoTaskList
from msgraph.generated.models.wellknown_list_name import WellknownListName
from msgraph.generated.users.item.todo.lists.item.tasks.tasks_request_builder import TasksRequestBuilder

from local.graph.testing import GraphSandbox

from .conftest import Receiver

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
async def http(graph: GraphSandbox) -> AsyncIterator[httpx.AsyncClient]:
    """Raw HTTP where the SDK cannot send the request (invalid values, no $top)."""
    async with httpx.AsyncClient(base_url=graph.base_url, headers=graph.auth_headers, timeout=10) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def _lists(sdk: GraphServiceClient, user: str) -> Any:
    return sdk.users.by_user_id(user).todo.lists


async def _new_list(sdk: GraphServiceClient, user: str, name: str = "Store 0042") -> str:
    created = await _lists(sdk, user).post(TodoTaskList(display_name=name))
    assert created is not None and created.id
    return created.id


async def test_every_user_has_the_default_list_and_can_get_more(
    sdk: GraphServiceClient, http: httpx.AsyncClient, users: list[dict[str, Any]]
) -> None:
    upn = users[0]["userPrincipalName"]
    page = await _lists(sdk, upn).get()
    assert page is not None and [(x.display_name, x.wellknown_list_name) for x in page.value or []] == [
        ("Tasks", WellknownListName.DefaultList)
    ]
    raw = await http.post(f"/users/{users[0]['id']}/todo/lists", json={"displayName": "Store 0042"})
    assert raw.status_code == 201
    body = raw.json()
    assert body["wellknownListName"] == "none" and body["isOwner"] is True and body["isShared"] is False
    assert body["@odata.etag"].startswith('W/"') and body["@odata.context"].endswith("/$entity")
    list_id = body["id"]
    renamed = (
        await _lists(sdk, upn).by_todo_task_list_id(list_id).patch(TodoTaskList(display_name="Store 42"))
    )
    assert renamed is not None and renamed.display_name == "Store 42"
    assert renamed.additional_data["@odata.etag"] != body["@odata.etag"]
    page = await _lists(sdk, upn).get()
    assert page is not None and [x.display_name for x in page.value or []] == ["Tasks", "Store 42"]
    await _lists(sdk, upn).by_todo_task_list_id(list_id).delete()
    with pytest.raises(ODataError) as gone:
        await _lists(sdk, upn).by_todo_task_list_id(list_id).get()
    assert gone.value.response_status_code == 404
    assert gone.value.error is not None and gone.value.error.code == "ErrorItemNotFound"
    with pytest.raises(ODataError) as nobody:
        await _lists(sdk, "nobody@contoso.com").get()
    assert nobody.value.response_status_code == 404
    assert nobody.value.error is not None and nobody.value.error.code == "ErrorInvalidUser"


async def test_task_round_trip_with_completion_and_fresh_etags(
    sdk: GraphServiceClient, users: list[dict[str, Any]]
) -> None:
    user = users[1]["id"]
    list_id = await _new_list(sdk, user)
    tasks = _lists(sdk, user).by_todo_task_list_id(list_id).tasks
    created = await tasks.post(
        TodoTask(
            title="Count stock",
            body=ItemBody(content="Aisle 4", content_type=BodyType.Text),
            due_date_time=DateTimeTimeZone(date_time="2030-05-17T15:30:00", time_zone="UTC"),
            linked_resources=[
                LinkedResource(
                    web_url="https://commerce.example/tasks/TL-7/1@0042",
                    application_name="Commerce",
                    display_name="TL-7/1",
                    external_id="TL-7/1@0042",
                )
            ],
        )
    )
    assert created is not None and created.id and created.status == TaskStatus.NotStarted
    assert created.body is not None and created.body.content == "Aisle 4"
    assert created.due_date_time is not None and created.due_date_time.time_zone == "UTC"
    assert created.due_date_time.date_time == "2030-05-17T00:00:00.0000000"  # To Do keeps the date
    assert created.completed_date_time is None and created.created_date_time is not None
    assert created.linked_resources and created.linked_resources[0].external_id == "TL-7/1@0042"
    etag = created.additional_data["@odata.etag"]
    item = tasks.by_todo_task_id(created.id)

    done = await item.patch(TodoTask(status=TaskStatus.Completed))
    assert done is not None and done.status == TaskStatus.Completed and done.title == "Count stock"
    assert done.completed_date_time is not None and done.completed_date_time.time_zone == "UTC"
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert done.completed_date_time.date_time == f"{today}T00:00:00.0000000"
    assert done.additional_data["@odata.etag"] != etag
    assert done.last_modified_date_time and created.last_modified_date_time
    assert done.last_modified_date_time >= created.last_modified_date_time

    reopened = await item.patch(TodoTask(status=TaskStatus.InProgress))
    assert reopened is not None and reopened.completed_date_time is None
    fetched = await item.get()
    assert fetched is not None and fetched.status == TaskStatus.InProgress
    assert fetched.additional_data["@odata.etag"] == reopened.additional_data["@odata.etag"]

    await item.delete()
    with pytest.raises(ODataError) as gone:
        await item.get()
    assert gone.value.response_status_code == 404
    assert gone.value.error is not None and gone.value.error.code == "ErrorItemNotFound"


async def test_invalid_status_is_400_and_unknown_lists_and_tasks_are_404(
    sdk: GraphServiceClient, http: httpx.AsyncClient, users: list[dict[str, Any]]
) -> None:
    user = users[2]["id"]
    list_id = await _new_list(sdk, user)
    other_list = await _new_list(sdk, user, "Other")
    base = f"/users/{user}/todo/lists/{list_id}/tasks"
    bad = await http.post(base, json={"title": "x", "status": "done"})
    assert bad.status_code == 400 and "done" in bad.json()["error"]["message"]
    task = (await http.post(base, json={"title": "x"})).json()
    assert (await http.patch(f"{base}/{task['id']}", json={"status": "finished"})).status_code == 400
    assert (await http.patch(f"{base}/{task['id']}", json={"priority": 5})).status_code == 400
    unknown = await http.get(f"/users/{user}/todo/lists/AAMkADnothere=/tasks")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "ErrorItemNotFound"
    with pytest.raises(ODataError) as wrong_list:  # the task exists, but not in that list
        await _lists(sdk, user).by_todo_task_list_id(other_list).tasks.by_todo_task_id(task["id"]).get()
    assert wrong_list.value.response_status_code == 404
    foreign = await http.get(f"/users/{users[3]['id']}/todo/lists/{list_id}")  # someone else's list
    assert foreign.status_code == 404


async def test_task_pages_follow_next_links_and_lists_page_only_with_top(
    sdk: GraphServiceClient, http: httpx.AsyncClient, users: list[dict[str, Any]]
) -> None:
    user = users[4]["id"]
    list_id = await _new_list(sdk, user)
    tasks = _lists(sdk, user).by_todo_task_list_id(list_id).tasks
    for i in range(5):
        await tasks.post(TodoTask(title=f"Task {i}"))
    query = TasksRequestBuilder.TasksRequestBuilderGetQueryParameters(top=2)
    page = await tasks.get(request_configuration=RequestConfiguration(query_parameters=query))
    titles: list[str] = []
    while page is not None:
        titles.extend(t.title or "" for t in page.value or [])
        if not page.odata_next_link:
            break
        page = await tasks.with_url(page.odata_next_link).get()
    assert titles == [f"Task {i}" for i in range(5)]
    for i in range(16):  # 18 lists with the default one and the first
        assert (
            await http.post(f"/users/{user}/todo/lists", json={"displayName": f"L{i}"})
        ).status_code == 201
    first = (await http.get(f"/users/{user}/todo/lists")).json()
    assert len(first["value"]) == 16 and "@odata.nextLink" not in first  # Graph's quirk without $top
    paged = (await http.get(f"/users/{user}/todo/lists", params={"$top": "10"})).json()
    rest = (await http.get(paged["@odata.nextLink"])).json()
    assert len(paged["value"]) + len(rest["value"]) == 18


def _expiry(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def _wait_for(graph: GraphSandbox, receiver: Receiver, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(receiver.received) < count and time.monotonic() < deadline:
        graph.drain()
        time.sleep(0.01)


async def test_api_and_person_changes_are_notified_per_subscription_change_type(
    sdk: GraphServiceClient,
    graph: GraphSandbox,
    http: httpx.AsyncClient,
    users: list[dict[str, Any]],
    receiver: Receiver,
) -> None:
    user = users[5]
    list_id = await _new_list(sdk, user["id"])
    everything = {
        "changeType": "created,updated,deleted",
        "notificationUrl": receiver.url,
        "resource": f"/users/{user['id']}/todo/lists/{list_id}/tasks",
        "expirationDateTime": _expiry(4230),
        "clientState": "all-changes",
    }
    assert (await http.post("/subscriptions", json=everything)).status_code == 201
    updates_by_upn = {
        **everything,
        "changeType": "updated",
        "resource": f"users/{user['userPrincipalName'].upper()}/todo/lists/{list_id}/tasks",
        "clientState": "updates-only",
    }
    assert (await http.post("/subscriptions", json=updates_by_upn)).status_code == 201
    too_long = await http.post("/subscriptions", json={**everything, "expirationDateTime": _expiry(4320)})
    assert too_long.status_code == 400

    tasks = _lists(sdk, user["id"]).by_todo_task_list_id(list_id).tasks
    task = await tasks.post(TodoTask(title="Planogram"))
    assert task is not None and task.id
    await tasks.by_todo_task_id(task.id).patch(TodoTask(title="Planogram aisle 4"))
    acted = graph.act(
        "todo-update", userId=user["userPrincipalName"], listId=list_id, taskId=task.id,
        changes={"status": "completed"},
    )  # fmt: skip
    assert acted["status"] == "completed" and acted["completedDateTime"]["timeZone"] == "UTC"
    graph.act("todo-delete", userId=user["id"], taskId=task.id)
    _wait_for(graph, receiver, 6)

    def seen(state: str) -> list[str]:
        return [n["changeType"] for n in receiver.received if n["clientState"] == state]

    assert sorted(seen("all-changes")) == ["created", "deleted", "updated", "updated"]
    assert seen("updates-only") == ["updated", "updated"]
    note = next(n for n in receiver.received if n["changeType"] == "created")
    path = f"users/{user['id']}/todo/lists/{list_id}/tasks/{task.id}"
    assert note["resource"] == path and note["tenantId"] == graph.state()["tenantId"]
    assert note["resourceData"] == {
        "@odata.type": "#microsoft.graph.todoTask",
        "@odata.id": path,
        "@odata.etag": task.additional_data["@odata.etag"],
        "id": task.id,
    }
    # The person's update is notified with the task's new etag, by each subscription. Not
    # necessarily last: the sandbox has up to 8 POSTs in flight to one endpoint (MAX_IN_FLIGHT),
    # and Graph promises no order either; under load the two updates' POSTs crossed.
    updates = [n for n in receiver.received if n["changeType"] == "updated"]
    person_updates = [n for n in updates if n["resourceData"]["@odata.etag"] == acted["@odata.etag"]]
    assert sorted(n["clientState"] for n in person_updates) == ["all-changes", "updates-only"]
    deleted = next(n for n in receiver.received if n["changeType"] == "deleted")
    assert "@odata.etag" not in deleted["resourceData"]


async def test_a_person_editing_their_todo_changes_it_as_graph_would(
    sdk: GraphServiceClient, graph: GraphSandbox, users: list[dict[str, Any]]
) -> None:
    user = users[6]["id"]
    list_id = await _new_list(sdk, user)
    item = _lists(sdk, user).by_todo_task_list_id(list_id).tasks
    task = await item.post(TodoTask(title="Clean"))
    assert task is not None and task.id
    graph.reset_counters()
    graph.act("todo-update", userId=user, taskId=task.id, changes={"title": "Clean windows"})
    after = await item.by_todo_task_id(task.id).get()
    assert after is not None and after.title == "Clean windows"
    assert after.additional_data["@odata.etag"] != task.additional_data["@odata.etag"]
    assert after.last_modified_date_time and task.last_modified_date_time
    assert after.last_modified_date_time > task.last_modified_date_time
    assert graph.counters()["totals"] == {"GET /users/{id}/todo/lists/{listId}/tasks/{taskId}": 1}
    stored = [o for o in graph.state()["objects"]["todoTask"] if o["data"]["_userId"] == user]
    assert [(o["parent"], o["data"]["title"]) for o in stored] == [(list_id, "Clean windows")]
    with pytest.raises(httpx.HTTPStatusError) as wrong_user:
        graph.act("todo-delete", userId=users[7]["id"], taskId=task.id)
    assert wrong_user.value.response.status_code == 404
    with pytest.raises(httpx.HTTPStatusError) as bad_status:
        graph.act("todo-update", userId=user, taskId=task.id, changes={"status": "done"})
    assert bad_status.value.response.status_code == 400

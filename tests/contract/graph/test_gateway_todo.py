"""To Do through the gateway: one list per name (even racing), task CRUD, due dates, 404s."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.domain.todo import TodoFields, TodoLink, TodoStatus
from shared.graph import Gateway, NotFound


@pytest.fixture(scope="module")
def workers(sandbox: Any) -> list[dict[str, Any]]:
    return sandbox.seed_users(
        [{"userPrincipalName": f"todo{i}@contoso.com", "displayName": f"Worker {i}"} for i in range(4)]
    )


async def test_ensure_list_finds_the_list_past_the_first_page_and_converges_when_racing(
    gateway: Gateway, sandbox: Any, workers: list[dict[str, Any]]
) -> None:
    user = workers[0]["id"]
    names = [f"Store {i:04d}" for i in range(20)]  # more than the 16 lists Graph answers without $top
    first = {name: (await gateway.ensure_todo_list(user, name)).list_id for name in names}
    again = {name: (await gateway.ensure_todo_list(user, name)).list_id for name in names}
    assert again == first
    assert (await gateway.list_todo_lists(workers[0]["userPrincipalName"]))[0].name == "Tasks"

    raced = await asyncio.gather(*(gateway.ensure_todo_list(user, "Store 9999") for _ in range(4)))
    assert len({x.list_id for x in raced}) == 1
    lists = await gateway.list_todo_lists(user)
    assert [x.list_id for x in lists if x.name == "Store 9999"] == [raced[0].list_id]
    assert len(lists) == 22  # Tasks, 20 stores, Store 9999


async def test_task_round_trip_with_completion_due_date_and_link(
    gateway: Gateway, workers: list[dict[str, Any]]
) -> None:
    user = workers[1]["id"]
    todo_list = await gateway.ensure_todo_list(user, "Store 0042")
    link = TodoLink(
        web_url="https://commerce.example/t/1", application_name="Commerce", external_id="TL-7/1@0042"
    )
    task = await gateway.create_todo_task(
        user,
        todo_list.list_id,
        TodoFields(title="Count stock", body="Aisle 4", due=datetime(2030, 5, 17), link=link),
    )
    assert (task.title, task.body, task.status, task.user_id) == (
        "Count stock",
        "Aisle 4",
        TodoStatus.NOT_STARTED,
        user,
    )
    assert task.due == datetime(2030, 5, 17, tzinfo=UTC) and task.due_time_zone == "UTC"
    assert task.links == (link,) and task.etag and task.last_modified and task.completed is None

    done = await gateway.update_todo_task(
        user, todo_list.list_id, task.task_id, TodoFields(status=TodoStatus.COMPLETED)
    )
    assert done.is_complete and done.title == "Count stock" and done.etag != task.etag
    assert done.completed is not None and done.completed.date() == datetime.now(UTC).date()
    no_due = await gateway.update_todo_task(user, todo_list.list_id, task.task_id, TodoFields(due=None))
    assert no_due.due is None and no_due.is_complete  # only the given field changed
    assert await gateway.get_todo_task(user, todo_list.list_id, task.task_id) == no_due
    assert [t.task_id for t in await gateway.list_todo_tasks(user, todo_list.list_id)] == [task.task_id]

    await gateway.delete_todo_task(user, todo_list.list_id, task.task_id)
    assert await gateway.get_todo_task(user, todo_list.list_id, task.task_id) is None
    await gateway.delete_todo_task(user, todo_list.list_id, task.task_id)  # already gone: fine


async def test_a_due_date_in_an_iana_zone_keeps_its_day(
    gateway: Gateway, workers: list[dict[str, Any]]
) -> None:
    user = workers[2]["id"]
    todo_list = await gateway.ensure_todo_list(user, "Store 0043")
    berlin = ZoneInfo("Europe/Berlin")
    task = await gateway.create_todo_task(
        user,
        todo_list.list_id,
        TodoFields(title="Planogram", due=datetime(2030, 5, 17, 9, 30, tzinfo=berlin)),
    )
    assert task.due is not None and task.due.astimezone(berlin) == datetime(2030, 5, 17, tzinfo=berlin)


async def test_unknown_lists_and_users_are_not_found(gateway: Gateway, workers: list[dict[str, Any]]) -> None:
    user = workers[3]["id"]
    todo_list = await gateway.ensure_todo_list(user, "Store 0044")
    assert await gateway.get_todo_task(user, "AAMkADnothere=", "AAMkADnotask=") is None
    with pytest.raises(NotFound) as caught:
        await gateway.update_todo_task(user, todo_list.list_id, "AAMkADnotask=", TodoFields(title="x"))
    assert caught.value.code == "ErrorItemNotFound"
    with pytest.raises(NotFound) as nobody:
        await gateway.list_todo_lists("nobody@contoso.com")
    assert nobody.value.code == "ErrorInvalidUser"
    with pytest.raises(ValueError):
        await gateway.create_todo_task(user, todo_list.list_id, TodoFields(body="no title"))

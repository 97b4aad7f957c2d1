"""To Do mode end to end (CTS_TASKS__TODO_MODE=true) through the local host, with the Graph webhook
of the production app: a store task assigned to one worker appears in that worker's To Do list
(with a todoTask subscription); completing it there completes the Planner task and the Commerce
task with who did it; our own writes echo back without ping-pong; deleting the personal copy
cancels nothing. Final states are read through Graph and the Commerce sandbox.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_tasks_e2e import KEY, World, running_world, wait_for

APP = str(Path(__file__).with_name("todo_app.py"))
SECRET = "todo-client-state-3f9a"
LIST = "Store tasks"

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions.*"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    port = _free_port()
    hook = f"http://127.0.0.1:{port}/api/graph"
    settings = {
        "CTS_TASKS__TODO_MODE": "true",
        "CTS_TASKS__TODO_LIST_NAME": LIST,
        "CTS_WEBHOOK__NOTIFICATION_URL": f"{hook}/notifications?code={KEY}",
        "CTS_WEBHOOK__LIFECYCLE_NOTIFICATION_URL": f"{hook}/lifecycle?code={KEY}",
        "CTS_WEBHOOK__CLIENT_STATE": SECRET,
        "CTS_WEBHOOK__SUBSCRIPTION_SCHEDULE": "0 0 0 1 1 *",
    }
    with running_world(tmp_path_factory.mktemp("todo"), APP, settings, port=port, mode="todo") as w:
        yield w


def _todo_tasks(world: World, user: str) -> list[dict[str, Any]]:
    lists = world.get(f"/users/{user}/todo/lists?$top=100").json()["value"]
    mine = [x for x in lists if x["displayName"] == LIST]
    assert len(mine) <= 1, "one list per worker"
    if not mine:
        return []
    return list(world.get(f"/users/{user}/todo/lists/{mine[0]['id']}/tasks?$top=100").json()["value"])


def _titled(world: World, user: str, title: str) -> list[dict[str, Any]]:
    return [t for t in _todo_tasks(world, user) if t["title"] == title]


def _assign(world: World, key: str, user: str) -> dict[str, Any]:
    """Assign the pair's Planner task to `user` alone (as a store manager does in Teams)."""
    task = wait_for(lambda: world.planner_task(key), what=f"the Planner task of {key}")
    order = {"@odata.type": "#microsoft.graph.plannerAssignment", "orderHint": " !"}
    world.graph.act("edit-task", taskId=task["id"], userId=world.users["ana@contoso.example"],
                    assignments={user: order})  # fmt: skip
    return dict(task)


def test_a_task_assigned_to_one_worker_reaches_their_to_do_and_comes_back_completed(world: World) -> None:
    ben = world.users["ben@contoso.example"]
    world.publish("TL-7", ("0042",))
    wait_for(lambda: world.planner_task("TL-7/1@0042"), what="the Planner task")
    assert _titled(world, ben, "Build window display") == []  # store-wide: Planner only
    _assign(world, "TL-7/1@0042", ben)
    copy = wait_for(
        lambda: next(iter(_titled(world, ben, "Build window display")), None),
        what="the To Do copy",
        timeout=20,
    )
    assert copy["title"] == "Build window display" and copy["status"] == "notStarted"
    assert copy["dueDateTime"]["dateTime"].startswith("2030-03-08")  # target date - 2 days
    assert world.commerce_task("TL-7", "1", "0042")["assigned_to"] == "000322"
    subs = json.dumps([s["resource"] for s in world.get("/subscriptions").json()["value"]]).lower()
    assert f"/users/{ben}/todo/lists/".lower() in subs  # subscribed as soon as the list was used
    wait_for(world.quiet, what="quiet after the copy")
    writes = world.counters().get("tasks.todo.writes", 0)

    world.graph.act("todo-update", userId=ben, taskId=copy["id"], changes={"status": "completed"})
    row = wait_for(
        lambda: (r := world.commerce_task("TL-7", "1", "0042"))["status"] == "completed" and r,
        what="completion in To Do to reach Commerce",
        timeout=20,
    )
    assert row["completed_by"] == "000322"
    done = world.planner_task("TL-7/1@0042")
    assert done is not None and done["percentComplete"] == 100
    wait_for(world.quiet, what="quiet after the completion")
    time.sleep(1.0)  # our echoes (Planner poll, Commerce event, todoTask notification) come back
    wait_for(world.quiet, what="quiet after the echoes")
    assert world.counters().get("tasks.todo.writes", 0) == writes, "the completion must not be written back"
    assert _titled(world, ben, "Build window display")[0]["status"] == "completed"


def test_a_worker_deleting_their_copy_cancels_nothing_and_it_is_not_recreated(world: World) -> None:
    # Its own task (TL-7/2), so it passes alone and in any order with the test above.
    ben = world.users["ben@contoso.example"]
    world.publish("TL-7", ("0042",))
    _assign(world, "TL-7/2@0042", ben)
    copy = wait_for(lambda: next(iter(_titled(world, ben, "Count stock")), None), what="the copy", timeout=20)
    wait_for(world.quiet, what="quiet after the copy")
    status = world.commerce_task("TL-7", "2", "0042")["status"]
    dismissed = world.counters().get("tasks.todo.dismissed", 0)
    world.graph.act("todo-delete", userId=ben, taskId=copy["id"])
    wait_for(lambda: world.counters().get("tasks.todo.dismissed", 0) >= dismissed + 1, what="the dismissal")
    wait_for(world.quiet, what="quiet after the deletion")
    assert _titled(world, ben, "Count stock") == []
    assert world.commerce_task("TL-7", "2", "0042")["status"] == status
    assert world.planner_task("TL-7/2@0042") is not None

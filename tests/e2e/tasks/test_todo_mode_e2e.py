"""To Do mode end to end (CTS_TASKS__TODO_MODE=true) through the local host, with the Graph webhook
of the production app: a store task assigned to one worker appears in that worker's To Do list
(with a todoTask subscription); completing it there completes the Planner task and the Commerce
task with who did it; our own writes echo back without ping-pong; deleting the personal copy
cancels nothing. Final states are read through Graph and the Commerce sandbox.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_tasks_e2e import KEY, ORG, HostBus, World, _make_teams, _map, wait_for

from shared.mirror import CACHE
from shared.settings import get_settings

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
    from local.commerce.testing import running_commerce_sandbox
    from local.graph.testing import running_graph_sandbox
    from local.host import running_host

    tmp = tmp_path_factory.mktemp("todo")
    bus = HostBus()
    with (
        running_graph_sandbox(tmp / "graph.sqlite", scale=0.02, throttle=False) as graph,
        running_commerce_sandbox(tmp / "commerce.sqlite", org=ORG, sender=bus) as commerce,
    ):
        people = graph.seed_users(
            [{"userPrincipalName": w["upn"], "displayName": w["name"], "employeeId": w["personnel_number"]}
             for w in ORG["workers"]]
        )  # fmt: skip
        users = {u["userPrincipalName"]: u["id"] for u in people}
        teams = asyncio.run(_make_teams(graph, users["ana@contoso.example"]))
        asyncio.run(_map(tmp / "state.sqlite", teams))
        data = tmp / "host"
        data.mkdir()
        (data / "host-keys.json").write_text(
            json.dumps({"masterKey": "master-" + KEY, "functionKeys": {"default": KEY}, "functions": {}})
        )
        port = _free_port()
        hook = f"http://127.0.0.1:{port}/api/graph"
        settings = {
            "ServiceBusConnection": "Endpoint=sb://127.0.0.1/;SharedAccessKeyName=local;SharedAccessKey=local",
            "CTS_BUS__TOPIC": "commerce-events",
            "CTS_BUS__SUBSCRIPTION": "teams-sync",
            "CTS_GRAPH__BASE_URL": graph.base_url,
            "CTS_GRAPH__AUTH": "static_token",
            "CTS_GRAPH__STATIC_TOKEN": graph.token,
            "CTS_COMMERCE__BASE_URL": commerce.base_url,
            "CTS_COMMERCE__AUTH": "static_token",
            "CTS_COMMERCE__STATIC_TOKEN": commerce.token,
            "CTS_STATE__BACKEND": "sqlite",
            "CTS_STATE__SQLITE_PATH": str(tmp / "state.sqlite"),
            "CTS_TASKS__POLL_SCHEDULE": "* * * * * *",
            "CTS_TASKS__POLL_INTERVAL_SECONDS": "0",
            "CTS_TASKS__RECONCILE_SCHEDULE": "0 0 0 1 1 *",
            "CTS_TASKS__TODO_MODE": "true",
            "CTS_TASKS__TODO_LIST_NAME": LIST,
            "CTS_WEBHOOK__NOTIFICATION_URL": f"{hook}/notifications?code={KEY}",
            "CTS_WEBHOOK__LIFECYCLE_NOTIFICATION_URL": f"{hook}/lifecycle?code={KEY}",
            "CTS_WEBHOOK__CLIENT_STATE": SECRET,
            "CTS_WEBHOOK__SUBSCRIPTION_SCHEDULE": "0 0 0 1 1 *",
        }
        get_settings.cache_clear()
        CACHE.clear()
        with running_host(APP, data, port, settings, use_local_settings=False, grace_period=2) as host:
            bus.host = host
            w = World(graph, commerce, host, tmp, users)
            yield w
            w.http.close()
        get_settings.cache_clear()


def _todo_tasks(world: World, user: str) -> list[dict[str, Any]]:
    lists = world.get(f"/users/{user}/todo/lists?$top=100").json()["value"]
    mine = [x for x in lists if x["displayName"] == LIST]
    assert len(mine) <= 1, "one list per worker"
    if not mine:
        return []
    return list(world.get(f"/users/{user}/todo/lists/{mine[0]['id']}/tasks?$top=100").json()["value"])


def test_a_task_assigned_to_one_worker_reaches_their_to_do_and_comes_back_completed(world: World) -> None:
    ben = world.users["ben@contoso.example"]
    world.commerce.change("publish_task_list", task_list="TL-7", stores=["0042"], target_date="2030-03-10")
    task = wait_for(lambda: world.planner_task("TL-7/1@0042"), what="the Planner task")
    assert _todo_tasks(world, ben) == []  # store-wide: Planner only
    order = {"@odata.type": "#microsoft.graph.plannerAssignment", "orderHint": " !"}
    world.graph.act("edit-task", taskId=task["id"], userId=world.users["ana@contoso.example"],
                    assignments={ben: order})  # fmt: skip
    copy = wait_for(lambda: next(iter(_todo_tasks(world, ben)), None), what="the To Do copy", timeout=20)
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
    assert _todo_tasks(world, ben)[0]["status"] == "completed"


def test_a_worker_deleting_their_copy_cancels_nothing_and_it_is_not_recreated(world: World) -> None:
    ben = world.users["ben@contoso.example"]
    copy = _todo_tasks(world, ben)[0]
    world.graph.act("todo-delete", userId=ben, taskId=copy["id"])
    wait_for(lambda: world.counters().get("tasks.todo.dismissed", 0) >= 1, what="the dismissal")
    wait_for(world.quiet, what="quiet after the deletion")
    assert _todo_tasks(world, ben) == []
    assert world.commerce_task("TL-7", "1", "0042")["status"] == "completed"
    assert world.planner_task("TL-7/1@0042") is not None

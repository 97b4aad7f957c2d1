"""Task mirroring end to end: the local host runs the task blueprint (tasks_app.py), the Commerce
sandbox publishes its task events into the host's broker, the Graph sandbox plays Planner and the
people in Teams. Final states are checked through Graph (HTTP) and the Commerce sandbox.

One world for the module (started once: sandboxes, teams, host): stores 0042/0043 (Pacific time),
0044 (Berlin) and 0045 (Oslo). Each test sets up what it needs itself (`World.publish` publishes a
task list once per world and waits for its tasks) and works on task lists or tasks no other test
changes, so every test passes alone and in any order (`make test-alone` checks a sample). The
module runs twice: with the v1.0 ETag listing poll and with the beta Planner delta
(`CTS_TASKS__USE_BETA_DELTA`).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.graph import Gateway, PollPolicy
from shared.mirror import CACHE
from shared.mirror.pairs import get_mirror, get_pair, list_pairs
from shared.settings import GraphSettings, get_settings
from shared.spine import RequestQueue
from shared.spine.features import TASK_PAIRS
from shared.state import StateStore, TeamRecord
from shared.state import teams as team_records
from shared.state.sqlite import SqliteBackend
from shared.tasks import PairStatus

APP = str(Path(__file__).with_name("tasks_app.py"))
KEY = "tasks-test-function-key"
STORES = ("0042", "0043", "0044")
QUIET_STORE = "0045"  # its one task list is finished on both sides: its plan is never polled

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions.*"),
]

RESET_TASKS = [
    {
        "id": "1",
        "name": "Build window display",
        "due_offset_days": -2,
        "notes": "See planogram",
        "contact_person": "000321",
        "link": "https://contoso.example/planogram",
    },
    {"id": "2", "name": "Count stock", "due_offset_days": 0},
]
ORG: dict[str, Any] = {
    "legal_entity": "USRT",
    "regions": [{"id": "WEST", "name": "West", "managers": []}],
    "stores": [
        {"number": "0042", "name": "Seattle", "region": "WEST", "time_zone": "Pacific Standard Time"},
        {"number": "0043", "name": "Portland", "region": "WEST", "time_zone": "Pacific Standard Time"},
        {"number": "0044", "name": "Berlin", "region": "WEST", "time_zone": "W. Europe Standard Time"},
        {"number": "0045", "name": "Oslo", "region": "WEST", "time_zone": "W. Europe Standard Time"},
    ],
    "workers": [
        {"personnel_number": "000321", "name": "Ana Ruiz", "upn": "ana@contoso.example"},
        {"personnel_number": "000322", "name": "Ben Ode", "upn": "ben@contoso.example"},
        {"personnel_number": "000323", "name": "Cy Park", "upn": "cy@contoso.example"},
    ],
    "assignments": [
        {"personnel_number": "000321", "store": "0042", "role": "manager"},
        {"personnel_number": "000322", "store": "0042", "role": "worker"},
        {"personnel_number": "000323", "store": "0043", "role": "manager"},
        {"personnel_number": "000322", "store": "0044", "role": "worker"},
        {"personnel_number": "000322", "store": "0045", "role": "worker"},
    ],
    "task_lists": [
        {
            "id": "TL-7",
            "name": "Holiday reset",
            "tasks": RESET_TASKS,
        },
        {"id": "TL-8", "name": "Spring", "tasks": [{"id": "1", "name": "Clean windows"}]},
        # One list per test that publishes, cancels or deletes, so no test undoes another's world.
        {
            "id": "TL-6",
            "name": "Winter reset",
            "tasks": RESET_TASKS,
        },
        {"id": "TL-9", "name": "Stocktake", "tasks": [{"id": "1", "name": "Count shelves"}]},
        {"id": "TL-10", "name": "Tidy up", "tasks": [{"id": "1", "name": "Sweep the floor"}]},
        {"id": "TL-11", "name": "Close-out", "tasks": [{"id": "1", "name": "Hand over keys"}]},
    ],
}


def wait_for(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class HostBus:
    """The Commerce sandbox's `BusSender`: sends into the running host's embedded broker."""

    host: Any = None

    async def send(self, entity: str, messages: Any) -> None:
        future = asyncio.run_coroutine_threadsafe(self.host.broker.send(entity, messages), self.host.loop)
        await asyncio.wrap_future(future)


class World:
    mode = "listing"

    def __init__(self, graph: Any, commerce: Any, host: Any, tmp: Path, users: dict[str, str]) -> None:
        self.graph, self.commerce, self.host, self.tmp, self.users = graph, commerce, host, tmp, users
        self.http = httpx.Client(base_url=graph.base_url, headers=graph.auth_headers, timeout=30)
        self.published: set[str] = set()

    def publish(
        self, task_list: str, stores: tuple[str, ...] = STORES, target_date: str = "2030-03-10"
    ) -> None:
        """Publish `task_list` to `stores` unless this world already did; wait for its tasks."""
        if task_list not in self.published:
            self.commerce.change(
                "publish_task_list", task_list=task_list, stores=list(stores), target_date=target_date
            )
            self.published.add(task_list)
        tasks = next(t["tasks"] for t in ORG["task_lists"] if t["id"] == task_list)
        for store in stores:
            for task in tasks:
                key = f"{task_list}/{task['id']}@{store}"
                wait_for(lambda k=key: self.planner_task(k) is not None, what=f"{key} in Planner")
        wait_for(self.quiet, what=f"the mirrors of {task_list} to finish")

    def get(self, url: str) -> httpx.Response:
        """A read of the test's own, repeated while the sandbox throttles it (fault tests)."""
        for _ in range(50):
            resp = self.http.get(url)
            if resp.status_code not in (429, 503):
                return resp
            time.sleep(0.02)
        return resp

    def state_call(self, fn: Callable[[StateStore], Any]) -> Any:
        async def run() -> Any:
            state = StateStore(SqliteBackend(self.tmp / "state.sqlite"))
            try:
                return await fn(state)
            finally:
                await state.close()

        return asyncio.run(run())

    def counters(self) -> dict[str, int]:
        return dict(self.state_call(lambda s: s.counters()))

    def pair(self, key: str) -> PairStatus | None:
        return self.state_call(lambda s: get_pair(s, key))  # type: ignore[no-any-return]

    def plan_id(self, store: str) -> str | None:
        found = self.state_call(lambda s: s.get_value("plan", store))
        return str(found["plan_id"]) if found else None

    def planner_tasks(self, store: str) -> list[dict[str, Any]]:
        plan = self.plan_id(store)
        if plan is None:
            return []
        return list(self.get(f"/planner/plans/{plan}/tasks").json()["value"])

    def planner_task(self, key: str) -> dict[str, Any] | None:
        pair = self.pair(key)
        if pair is None or pair.planner is None or pair.planner.task_id is None:
            return None
        resp = self.get(f"/planner/tasks/{pair.planner.task_id}")
        return resp.json() if resp.status_code == 200 else None

    def buckets(self, store: str) -> dict[str, str]:
        plan = self.plan_id(store)
        return {b["id"]: b["name"] for b in self.get(f"/planner/plans/{plan}/buckets").json()["value"]}

    def details(self, task_id: str) -> dict[str, Any]:
        return dict(self.get(f"/planner/tasks/{task_id}/details").json())

    def commerce_task(self, task_list: str, task: str, store: str) -> dict[str, Any]:
        return next(
            t for t in self.commerce.task_statuses()
            if (t["task_list"], t["task"], t["store"]) == (task_list, task, store)
        )  # fmt: skip

    def quiet(self) -> bool:
        """No mirror requests left uncovered and no orchestration running."""
        pending = self.state_call(lambda s: RequestQueue(s, TASK_PAIRS).pending())
        r = httpx.get(
            f"{self.host.base_url}/runtime/webhooks/durabletask/instances",
            params={"runtimeStatus": "Running,Pending,ContinuedAsNew", "code": KEY}, timeout=10,
        )  # fmt: skip
        running = r.json() if r.status_code == 200 else ["?"]
        return not pending and not running


@contextmanager
def running_world(
    tmp: Path,
    app: str,
    settings: dict[str, str],
    *,
    port: int = 0,
    mode: str = "listing",
    org: dict[str, Any] | None = None,
) -> Iterator[World]:
    """Graph and Commerce sandboxes, the store teams mapped, and the local host running `app` with
    the base settings plus `settings` (and the host on `port`: 0 = any; `org`: ORG unless given,
    with the same stores and workers)."""
    org = org or ORG
    from local.commerce.testing import running_commerce_sandbox
    from local.graph.testing import running_graph_sandbox
    from local.host import running_host

    bus = HostBus()
    with (
        running_graph_sandbox(tmp / "graph.sqlite", scale=0.02, throttle=False) as graph,
        running_commerce_sandbox(tmp / "commerce.sqlite", org=org, sender=bus) as commerce,
    ):
        people = graph.seed_users(
            [{"userPrincipalName": w["upn"], "displayName": w["name"], "employeeId": w["personnel_number"]}
             for w in org["workers"]]
        )  # fmt: skip
        users = {u["userPrincipalName"]: u["id"] for u in people}
        teams = asyncio.run(_make_teams(graph, users["ana@contoso.example"], (*STORES, QUIET_STORE)))
        asyncio.run(_map(tmp / "state.sqlite", teams))
        data = tmp / "host"
        data.mkdir()
        (data / "host-keys.json").write_text(
            json.dumps({"masterKey": "master-" + KEY, "functionKeys": {"default": KEY}, "functions": {}})
        )
        base = {
            "ServiceBusConnection": "Endpoint=sb://127.0.0.1/;SharedAccessKeyName=local;SharedAccessKey=local",
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",  # the host needs it for non-HTTP triggers
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
            "CTS_TASKS__POLL_WARM_INTERVAL_SECONDS": "0",
            "CTS_TASKS__POLL_QUIET_INTERVAL_SECONDS": "0",
            "CTS_TASKS__POLL_BUDGET_PER_HOUR": "0",
            "CTS_TASKS__RECONCILE_SCHEDULE": "0 0 0 1 1 *",
            # The Commerce event blueprint's quarantine drain timer (functions/commerce_events.py).
            "CTS_RECONCILE__SWEEP_SCHEDULE": "0 0 0 1 1 *",
            # The ops blueprint's housekeeping timer (functions/ops.py).
            "CTS_STATE__HOUSEKEEPING_SCHEDULE": "0 0 0 1 1 *",
            # The host's own broker, for the quarantine (a rejected message) as in the stack.
            "CTS_BUS__LOCAL_BROKER": str(data / "servicebus.sqlite"),
            "CTS_BUS__LOCAL_BROKER_FACTORY": "local.host.broker:open_ops_broker",
        }
        get_settings.cache_clear()
        CACHE.clear()  # the host runs in this process: no store context from another world's tenant
        with running_host(
            app, data, port, {**base, **settings}, use_local_settings=False, grace_period=2
        ) as host:
            bus.host = host
            w = World(graph, commerce, host, tmp, users)
            w.mode = mode
            yield w
            w.http.close()
        get_settings.cache_clear()


@pytest.fixture(scope="module", params=["listing", "delta"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    delta = {"CTS_TASKS__USE_BETA_DELTA": str(request.param == "delta").lower()}
    with running_world(tmp_path_factory.mktemp("tasks"), APP, delta, mode=request.param) as w:
        yield w


async def _make_teams(graph: Any, owner: str, stores: tuple[str, ...]) -> dict[str, str]:
    gateway = Gateway(
        GraphSettings(base_url=graph.base_url, auth="static_token", static_token=graph.token),
        poll=PollPolicy(
            first_delay=0.02, interval=0.02, timeout=20, replication_delay=0.05, replication_attempts=5
        ),
    )
    try:
        ids = await asyncio.gather(
            *(gateway.create_team(display_name=f"Store {s}", owner_id=owner) for s in stores)
        )
        return dict(zip(stores, ids, strict=True))
    finally:
        await gateway.aclose()


async def _map(path: Path, teams: dict[str, str]) -> None:
    state = StateStore(SqliteBackend(path))
    for store, team_id in teams.items():
        await team_records.put_team(state, TeamRecord(key=f"store:{store}", team_id=team_id))
    await state.close()


def _due(task: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(task["dueDateTime"].replace("Z", "+00:00"))


def _in_bucket(world: World, store: str, bucket: str) -> dict[str, dict[str, Any]]:
    """The store plan's tasks in the bucket named `bucket` (one task list's), by title."""
    names = world.buckets(store)
    return {t["title"]: t for t in world.planner_tasks(store) if names.get(t["bucketId"]) == bucket}


def test_a_list_published_to_several_stores_becomes_a_bucket_and_tasks_in_each_plan(world: World) -> None:
    world.publish("TL-6")
    for store in STORES:
        wait_for(lambda s=store: len(_in_bucket(world, s, "Winter reset")) == 2, what=f"two tasks in {store}")
    for store in STORES:
        tasks = _in_bucket(world, store, "Winter reset")
        assert set(tasks) == {"Build window display", "Count stock"}
        assert {world.buckets(store)[t["bucketId"]] for t in tasks.values()} == {"Winter reset"}
        assert all(t["percentComplete"] == 0 and t["assignments"] == {} for t in tasks.values())
    # Due = target - 2 days at noon in the store's zone (Pacific: UTC-8 in early March 2030).
    seattle = _in_bucket(world, "0042", "Winter reset")["Build window display"]
    assert _due(seattle) == datetime(2030, 3, 8, 20, 0, tzinfo=UTC)
    berlin = _in_bucket(world, "0044", "Winter reset")["Build window display"]
    assert _due(berlin) == datetime(2030, 3, 8, 11, 0, tzinfo=UTC)
    text = world.details(seattle["id"])["description"]
    assert "See planogram" in text and "Contact: Ana Ruiz (000321)" in text
    assert "Commerce task TL-6/1@0042" in text
    pair = world.pair("TL-6/1@0042")
    assert pair is not None and pair.planner is not None and pair.planner.task_id == seattle["id"]


def test_completed_in_teams_is_completed_in_commerce_with_who_and_when(world: World) -> None:
    world.publish("TL-7")
    others = {s: world.commerce_task("TL-7", "1", s)["status"] for s in ("0043", "0044")}
    task = world.planner_task("TL-7/1@0042")
    assert task is not None
    world.graph.act("complete-task", taskId=task["id"], userId=world.users["ben@contoso.example"])
    row = wait_for(
        lambda: (r := world.commerce_task("TL-7", "1", "0042"))["status"] == "completed" and r,
        what="Commerce to show the task completed",
    )
    assert row["completed_by"] == "000322"
    done = world.planner_task("TL-7/1@0042")
    assert done is not None and done["percentComplete"] == 100
    planner_at = datetime.fromisoformat(done["completedDateTime"].replace("Z", "+00:00"))
    assert abs((datetime.fromisoformat(row["completed_at"]).astimezone(UTC) - planner_at).total_seconds()) < 2
    # other stores untouched
    assert {s: world.commerce_task("TL-7", "1", s)["status"] for s in ("0043", "0044")} == others


def test_reopened_in_teams_is_reopened_in_commerce(world: World) -> None:
    world.publish("TL-7")
    task = world.planner_task("TL-7/1@0042")
    assert task is not None
    if world.commerce_task("TL-7", "1", "0042")["status"] != "completed":  # completed first
        world.graph.act("complete-task", taskId=task["id"], userId=world.users["ben@contoso.example"])
        wait_for(lambda: world.commerce_task("TL-7", "1", "0042")["status"] == "completed", what="completed")
        wait_for(world.quiet, what="the completion's echoes to settle")
    world.graph.act("set-task-progress", taskId=task["id"], userId=world.users["ben@contoso.example"],
                    percentComplete=0)  # fmt: skip
    row = wait_for(
        lambda: (r := world.commerce_task("TL-7", "1", "0042"))["status"] == "not_started" and r,
        what="Commerce to show the task reopened",
    )
    assert row["completed_by"] is None and row["completed_at"] is None


def test_a_due_date_change_in_commerce_moves_every_stores_due_date(world: World) -> None:
    world.publish("TL-7")
    world.commerce.change("update_task", task_list="TL-7", task="2", fields={"due_offset_days": 3})
    for store, hour in (("0042", 19), ("0043", 19), ("0044", 11)):  # 13 March 2030: Pacific is on DST
        wait_for(
            lambda s=store, h=hour: (
                (t := world.planner_task(f"TL-7/2@{s}")) is not None
                and _due(t) == datetime(2030, 3, 13, h, 0, tzinfo=UTC)
            ),
            what=f"the new due date in store {store}",
        )


def test_an_owned_field_edited_in_teams_is_overwritten_and_reported(world: World) -> None:
    world.publish("TL-7")
    task = world.planner_task("TL-7/2@0043")
    assert task is not None
    world.graph.act(
        "edit-task", taskId=task["id"], userId=world.users["cy@contoso.example"], title="Count later"
    )
    wait_for(
        lambda: (t := world.planner_task("TL-7/2@0043")) is not None and t["title"] == "Count stock",
        what="the title to be set back",
    )
    wait_for(lambda: world.counters().get("tasks.report.owned_field_overwritten", 0) >= 1, what="the report")
    r = httpx.get(f"{world.host.base_url}/api/ops/tasks", params={"key": "TL-7/2@0043", "code": KEY})
    problems = r.json()[0]["last_pass"]["problems"]
    assert [p["kind"] for p in problems] == ["owned field overwritten"] and "title" in problems[0]["detail"]


def test_both_sides_changed_between_polls_the_later_change_wins(world: World) -> None:
    world.publish("TL-7")
    world.commerce.configure_events(delay_seconds=2.0)  # the Commerce event arrives after the Teams edit
    try:
        world.commerce.change(
            "set_task_status", task_list="TL-7", task="1", store="0043", status="in_progress"
        )
        time.sleep(0.05)
        task = world.planner_task("TL-7/1@0043")
        assert task is not None
        world.graph.act("complete-task", taskId=task["id"], userId=world.users["cy@contoso.example"])
        wait_for(lambda: world.counters().get("tasks.report.conflict_resolved", 0) >= 1, what="the conflict")
        row = wait_for(
            lambda: (r := world.commerce_task("TL-7", "1", "0043"))["status"] == "completed" and r,
            what="Teams (later) to win",
        )
        assert row["completed_by"] == "000323"
        world.commerce.flush_events()
    finally:
        world.commerce.configure_events(delay_seconds=0.0)
    wait_for(world.quiet, what="the echoes to settle")
    final = world.planner_task("TL-7/1@0043")
    assert final is not None and final["percentComplete"] == 100


def _titled(world: World, store: str, title: str) -> list[dict[str, Any]]:
    return [t for t in world.planner_tasks(store) if t["title"] == title]


def test_a_canceled_task_is_removed_from_every_plan_and_never_comes_back(world: World) -> None:
    world.publish("TL-9")
    world.commerce.change("cancel_task", task_list="TL-9", task="1")
    for store in STORES:
        wait_for(
            lambda s=store: _titled(world, s, "Count shelves") == [], what=f"the task removed in {store}"
        )
        # The pass records the tombstone right after Planner's delete answers: wait for it too.
        pair = wait_for(
            lambda s=store: (p := world.pair(f"TL-9/1@{s}")) is not None and p.tombstone and p,
            what=f"the tombstone in {store}",
        )
        assert pair is not None and pair.tombstone
    time.sleep(1.5)  # a few polls later: nothing re-created
    assert all(_titled(world, s, "Count shelves") == [] for s in STORES)


def test_it_converges_under_30_percent_throttling(world: World) -> None:
    world.graph.set_faults("*", throttle_ratio=0.3, retry_after=0.05, seconds=60)
    try:
        world.commerce.change(
            "publish_task_list", task_list="TL-8", stores=["0042", "0044"], target_date="2030-04-01"
        )
        for store in ("0042", "0044"):
            wait_for(lambda s=store: (t := world.planner_task(f"TL-8/1@{s}")) is not None and t["title"]
                     == "Clean windows", timeout=30, what=f"TL-8 in {store}")  # fmt: skip
        task = world.planner_task("TL-8/1@0044")
        assert task is not None
        world.graph.act("complete-task", taskId=task["id"], userId=world.users["ben@contoso.example"])
        try:
            wait_for(lambda: world.commerce_task("TL-8", "1", "0044")["status"] == "completed", timeout=30,
                     what="completion through throttling")  # fmt: skip
        except AssertionError:
            print(
                "state on failure:",
                world.counters(),
                world.state_call(lambda s: s.get_value("poll", "last")),
                world.state_call(lambda s: get_mirror(s, "TL-8/1@0044")),
                world.pair("TL-8/1@0044"),
                world.state_call(lambda s: RequestQueue(s, TASK_PAIRS).pending()),
                world.planner_task("TL-8/1@0044"),
            )
            raise
        assert world.graph.counters()["throttled"] > 0
    finally:
        world.graph.clear_faults()
    wait_for(world.quiet, timeout=30, what="quiet after throttling")


def test_a_poll_in_which_nothing_changed_costs_one_batch_per_20_plans(world: World) -> None:
    world.publish("TL-7")  # open tasks in every store of STORES: three plans to poll
    world.publish("TL-11", (QUIET_STORE,))
    done = world.planner_task(f"TL-11/1@{QUIET_STORE}")
    assert done is not None
    if done["percentComplete"] < 100:
        world.graph.act("complete-task", taskId=done["id"], userId=world.users["ben@contoso.example"])
        wait_for(lambda: world.commerce_task("TL-11", "1", QUIET_STORE)["status"] == "completed", what="done")
    wait_for(world.quiet, what="quiet")
    time.sleep(1.2)  # let the echo passes' polls go by
    pairs = world.state_call(lambda s: list_pairs(s))
    from shared.tasks import plans_to_poll

    plans = plans_to_poll(pairs)
    # 0045's tasks are completed on both sides: its plan is not polled at all.
    assert len(plans) == 3 and world.plan_id(QUIET_STORE) not in plans
    polls_before = world.counters().get("tasks.polls", 0)
    world.graph.reset_counters()
    time.sleep(3.2)
    counts = world.graph.counters()
    polls = world.counters().get("tasks.polls", 0) - polls_before
    assert polls >= 2
    totals = counts["totals"]
    # The polls that ran inside the window: each is one HTTP request, a $batch (2 plans <= 20)
    # holding one listing per plan (the sandbox counts those inner requests under their own route).
    budget = math.ceil(len(plans) / 20)
    assert set(totals) == {"POST /$batch", "GET /planner/plans/{id}/tasks"}, totals
    batches = totals["POST /$batch"]
    assert (polls - 1) * budget <= batches <= (polls + 1) * budget
    assert totals["GET /planner/plans/{id}/tasks"] == batches * len(plans)
    print(f"poll budget: {polls} polls, {batches} Graph HTTP requests, {len(plans)} plans")


def test_a_task_deleted_in_teams_is_canceled_in_commerce(world: World) -> None:
    world.publish("TL-10", ("0042",))
    task = world.planner_task("TL-10/1@0042")
    assert task is not None
    world.graph.act("delete-task", taskId=task["id"], userId=world.users["ana@contoso.example"])
    wait_for(
        lambda: world.commerce_task("TL-10", "1", "0042")["status"] == "canceled",
        what="the deletion in Teams to cancel the Commerce task",
    )
    wait_for(lambda: (p := world.pair("TL-10/1@0042")) is not None and p.tombstone, what="the tombstone")
    wait_for(world.quiet, what="quiet after the deletion")
    assert world.planner_task("TL-10/1@0042") is None  # not re-created


def test_an_expired_delta_link_reads_the_plan_again_and_misses_nothing(world: World) -> None:
    if world.mode != "delta":
        pytest.skip("beta delta only")
    world.publish("TL-7")
    polls = wait_for(
        lambda: (
            (p := world.state_call(lambda s: s.list_values("plannerdelta")))
            and world.plan_id("0044") in p
            and p
        ),
        what="a delta poll of 0044's plan",
    )
    assert {world.plan_id("0044")} <= set(polls)  # a deltaLink is kept per polled plan
    world.graph.expire_delta_tokens()
    task = world.planner_task("TL-7/1@0044")
    assert task is not None and task["percentComplete"] < 100
    world.graph.act("complete-task", taskId=task["id"], userId=world.users["ben@contoso.example"])
    wait_for(
        lambda: world.commerce_task("TL-7", "1", "0044")["status"] == "completed",
        what="the completion, read by a snapshot round after the link expired",
    )
    assert world.graph.counters()["totals"].get("GET /planner/plans/{id}/tasks/delta", 0) >= 1
    last = world.state_call(lambda s: s.get_value("poll", "last"))
    assert last["mode"] == "delta"

"""Tasks made in Teams reach Commerce (CTS_TASKS__FROM_TEAMS), end to end through the local host:
a list published from Teams (Tasks by Planner -> Published lists; the Graph sandbox's side channel
plays the publishing service) and an ad-hoc task a store manager creates in the store team's plan
become single-purpose Commerce tasks with who made them and where they came from, and are then
mirrored both ways: completed in Commerce -> Planner 100 %; completed in Teams -> Commerce
completed with who and when. With the setting off they stay Teams-only. Runs with the v1.0
listing poll and with the beta delta (which carries creationSource in the poll itself).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from test_tasks_e2e import APP, QUIET_STORE, World, running_world, wait_for

from shared.mirror.pairs import list_pairs
from shared.settings import FromTeams
from shared.tasks import plans_to_poll
from shared.tasks.origin import FROM_TEAMS_LIST, plans_for_teams_tasks, teams_task_id

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions.*"),
]

STORE = "0042"  # Ana Ruiz (000321) manages it, Ben Ode (000322) works there


@pytest.fixture(scope="module", params=["listing", "delta"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = {
        "CTS_TASKS__FROM_TEAMS": "all",
        "CTS_TASKS__USE_BETA_DELTA": str(request.param == "delta").lower(),
    }
    with running_world(tmp_path_factory.mktemp("fromteams"), APP, settings, mode=request.param) as w:
        w.publish("TL-8", (STORE,))  # the store's plan exists once Commerce has mirrored a task into it
        yield w


@pytest.fixture(scope="module")
def off_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # Explicit (the default is off): this module's other world may still be running in this process.
    settings = {"CTS_TASKS__FROM_TEAMS": "off", "CTS_TASKS__USE_BETA_DELTA": "false"}
    with running_world(tmp_path_factory.mktemp("fromteams-off"), APP, settings) as w:
        w.publish("TL-8", (STORE,))
        yield w


def _commerce_task(world: World, planner_task_id: str) -> dict[str, Any] | None:
    wanted = (FROM_TEAMS_LIST, teams_task_id(planner_task_id), STORE)
    return next(
        (t for t in world.commerce.task_statuses() if (t["task_list"], t["task"], t["store"]) == wanted), None
    )


def _planner(world: World, task_id: str) -> dict[str, Any]:
    return dict(world.get(f"/planner/tasks/{task_id}").json())


def _publish(world: World, title: str, publication: str) -> dict[str, Any]:
    plan = world.plan_id(STORE)
    assert plan is not None
    return world.graph.act(
        "publish-task",
        planId=plan,
        title=title,
        publicationId=publication,
        publicationName=f"{title} (list)",
        publishingTeamId="hq-team",
    )


def test_a_list_published_from_teams_becomes_a_commerce_task_and_completion_in_commerce_comes_back(
    world: World,
) -> None:
    published = _publish(world, "Set up the spring display", f"pub-{world.mode}-1")
    row = wait_for(lambda: _commerce_task(world, published["id"]), what="the published task in Commerce")
    assert row["origin"] == "TeamsPublished" and row["status"] == "not_started"
    assert (row["publication_id"], row["publication_name"]) == (
        f"pub-{world.mode}-1",
        "Set up the spring display (list)",
    )
    assert row["name"] == "Set up the spring display" and row["planner_task_id"] == published["id"]
    assert row["created_by"] is None  # published by the service: no worker to name
    wait_for(world.quiet, what="the new pair to settle")
    world.commerce.change(
        "set_task_status", task_list=FROM_TEAMS_LIST, task=row["task"], store=STORE, status="completed",
        by="000321",
    )  # fmt: skip
    wait_for(
        lambda: _planner(world, published["id"])["percentComplete"] == 100,
        what="the completion in Commerce to reach Planner",
    )
    wait_for(world.quiet, what="the echoes to settle")
    after = _planner(world, published["id"])
    assert after["title"] == "Set up the spring display"  # Teams' own fields are left alone
    assert len([t for t in world.commerce.task_statuses() if t["task_list"] == FROM_TEAMS_LIST
                and t.get("planner_task_id") == published["id"]]) == 1  # fmt: skip


def test_an_ad_hoc_task_of_the_store_manager_becomes_a_commerce_task_and_completion_in_teams_comes_back(
    world: World,
) -> None:
    plan = world.plan_id(STORE)
    assert plan is not None
    made = world.graph.act(
        "create-task", planId=plan, title=f"Fix the back door ({world.mode})",
        userId=world.users["ana@contoso.example"],
    )  # fmt: skip
    row = wait_for(lambda: _commerce_task(world, made["id"]), what="the ad-hoc task in Commerce")
    assert row["origin"] == "TeamsAdHoc" and row["created_by"] == "000321"
    assert row["publication_id"] is None and row["status"] == "not_started"
    wait_for(world.quiet, what="the new pair to settle")
    world.graph.act("complete-task", taskId=made["id"], userId=world.users["ben@contoso.example"])
    done = wait_for(
        lambda: (r := _commerce_task(world, made["id"])) is not None and r["status"] == "completed" and r,
        what="the completion in Teams to reach Commerce",
    )
    assert done["completed_by"] == "000322"
    planner_at = datetime.fromisoformat(
        _planner(world, made["id"])["completedDateTime"].replace("Z", "+00:00")
    )
    commerce_at = datetime.fromisoformat(done["completed_at"]).astimezone(UTC)
    assert abs((commerce_at - planner_at).total_seconds()) < 2


def test_an_ad_hoc_task_of_a_store_worker_stays_in_teams(world: World) -> None:
    plan = world.plan_id(STORE)
    assert plan is not None
    made = world.graph.act(
        "create-task", planId=plan, title=f"My own reminder ({world.mode})",
        userId=world.users["ben@contoso.example"],
    )  # fmt: skip
    key = f"{FROM_TEAMS_LIST}/{teams_task_id(made['id'])}@{STORE}"

    def answered() -> Any:
        found = world.state_call(lambda s: s.get_value("fromteams", key))
        return found if found and found.get("state") != "requested" else None

    answer = wait_for(answered, what="the pass to answer")
    assert answer["state"] == "declined" and "not a manager of store 0042" in answer["reason"]
    assert _commerce_task(world, made["id"]) is None
    assert world.pair(key) is None


def test_with_the_setting_off_tasks_made_in_teams_stay_teams_only(off_world: World) -> None:
    published = _publish(off_world, "Spring display (off)", "pub-off")
    plan = off_world.plan_id(STORE)
    made = off_world.graph.act(
        "create-task", planId=plan, title="Fix the door (off)", userId=off_world.users["ana@contoso.example"]
    )
    polls = off_world.counters().get("tasks.polls", 0)
    wait_for(lambda: off_world.counters().get("tasks.polls", 0) >= polls + 3, what="three polls")
    wait_for(off_world.quiet, what="quiet")
    assert (
        _commerce_task(off_world, published["id"]) is None and _commerce_task(off_world, made["id"]) is None
    )
    assert off_world.state_call(lambda s: s.list_values("fromteams")) == {}


def test_with_the_setting_on_a_quiet_poll_lists_every_store_plan_at_one_batch_per_20_plans(
    world: World,
) -> None:
    world.publish("TL-11", (QUIET_STORE,))
    done = world.planner_task(f"TL-11/1@{QUIET_STORE}")
    assert done is not None
    if done["percentComplete"] < 100:  # finished on both sides: no open mirrored task in its plan
        world.graph.act("complete-task", taskId=done["id"], userId=world.users["ben@contoso.example"])
        wait_for(lambda: world.commerce_task("TL-11", "1", QUIET_STORE)["status"] == "completed", what="done")
    wait_for(world.quiet, what="quiet")
    pairs = world.state_call(lambda s: list_pairs(s))
    store_plans = {k: v["plan_id"] for k, v in world.state_call(lambda s: s.list_values("plan")).items()}
    plans = plans_to_poll(pairs, plans_for_teams_tasks(store_plans, FromTeams.ALL))
    quiet_plan = world.plan_id(QUIET_STORE)
    assert quiet_plan in plans and quiet_plan not in plans_to_poll(pairs)  # listed for new Teams tasks
    polls_before = world.counters().get("tasks.polls", 0)
    world.graph.reset_counters()
    wait_for(lambda: world.counters().get("tasks.polls", 0) >= polls_before + 3, what="three polls")
    totals = world.graph.counters()["totals"]
    polls = world.counters().get("tasks.polls", 0) - polls_before
    listings = {"GET /planner/plans/{id}/tasks", "GET /planner/plans/{id}/tasks/delta"}
    assert set(totals) <= {"POST /$batch"} | listings, totals  # nothing but the listings
    budget = math.ceil(len(plans) / 20)
    assert (polls - 1) * budget <= totals["POST /$batch"] <= (polls + 1) * budget
    assert sum(totals.get(r, 0) for r in listings) == totals["POST /$batch"] * len(plans)
    print(
        f"from_teams poll budget: {polls} polls, {totals['POST /$batch']} Graph HTTP requests, "
        f"{len(plans)} plans"
    )


def test_a_published_task_canceled_in_commerce_is_left_in_teams(world: World) -> None:
    published = _publish(world, "Count the returns", f"pub-{world.mode}-cancel")
    row = wait_for(lambda: _commerce_task(world, published["id"]), what="the published task in Commerce")
    wait_for(world.quiet, what="the new pair to settle")
    world.commerce.change("cancel_task", task_list=FROM_TEAMS_LIST, task=row["task"], store=STORE)
    key = f"{FROM_TEAMS_LIST}/{row['task']}@{STORE}"
    wait_for(lambda: (p := world.pair(key)) is not None and p.tombstone, what="the tombstone")
    wait_for(world.quiet, what="quiet")
    # Published tasks "can't be deleted": the pass did not try (no failed pass), the task is there.
    assert world.get(f"/planner/tasks/{published['id']}").status_code == 200
    assert world.graph.counters()["totals"].get("DELETE /planner/tasks/{id}", 0) == 0

"""Task features end to end (docs/tasks.md): a recurring task list is one Planner recurrence series
per store; priority, checklist and link travel with the task. The local host runs the task
blueprint; Commerce sandbox = HQ (its recurrence batch is the `recur_task_list` change), Graph
sandbox = Planner (beta `recurrence`: a completed task continues its series) and the people in Teams.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_tasks_e2e import APP, ORG, World, running_world, wait_for

from shared.mirror.pairs import get_mirror

RECURRING = "TL-20"
FEATURES_ORG: dict[str, Any] = copy.deepcopy(ORG)
OPENING = "TL-21"
LINK = "https://contoso.example/opening.html"
FEATURES_ORG["task_lists"] = [
    {"id": RECURRING, "name": "Weekly count", "tasks": [
        {"id": "1", "name": "Count the safe", "notes": "- [ ] Count the coins"}]},
    {"id": "TL-22", "name": "Daily till check", "tasks": [{"id": "1", "name": "Check the till"}]},
    {"id": OPENING, "name": "Opening", "tasks": [
        {"id": "1", "name": "Open the store", "notes": "Before 9.\n- [ ] Lights on\n- [ ] Doors open",
         "priority": "urgent", "link": LINK},
    ]},
]  # fmt: skip

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions.*"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_world(tmp_path_factory.mktemp("features"), APP, {}, org=FEATURES_ORG) as w:
        yield w


def _beta(world: World, task_id: str) -> dict[str, Any]:
    url = world.graph.base_url.replace("/v1.0", "/beta") + f"/planner/tasks/{task_id}"
    return dict(httpx.get(url, headers=world.graph.auth_headers, timeout=10).json())


def _series_tasks(world: World, store: str) -> list[dict[str, Any]]:
    """The store plan's tasks in the list's bucket, as beta shows them, by occurrence."""
    names = world.buckets(store)
    tasks = [
        _beta(world, t["id"])
        for t in world.planner_tasks(store)
        if names.get(t["bucketId"]) == "Weekly count"
    ]
    return sorted(tasks, key=lambda t: (t["recurrence"] or {}).get("occurrenceId", 0))


def test_a_recurring_task_list_is_one_planner_series_per_store(world: World) -> None:
    world.commerce.change(
        "publish_task_list", task_list=RECURRING, stores=["0042"], target_date="2030-03-11",
        recurrence={"pattern": "weekly", "interval": 1},
    )  # fmt: skip
    first = wait_for(lambda: world.planner_task(f"{RECURRING}/1@0042"), what="occurrence 1 in Planner")
    wait_for(world.quiet, what="quiet after the publish")
    rec = _beta(world, first["id"])["recurrence"]
    assert rec["occurrenceId"] == 1 and rec["schedule"]["pattern"]["type"] == "weekly"
    assert rec["schedule"]["pattern"]["daysOfWeek"] == ["monday"]  # 2030-03-11 is a Monday
    assert rec["schedule"]["patternStartDateTime"] == "2030-03-11T19:00:00Z"  # noon, Pacific (UTC-7)
    series = rec["seriesId"]

    # Completed in Teams: Commerce's occurrence 1 is completed, Planner continues the series.
    world.graph.act("complete-task", taskId=first["id"], userId=world.users["ben@contoso.example"])
    wait_for(lambda: world.commerce_task(RECURRING, "1", "0042")["status"] == "completed", what="completion")
    second_id = wait_for(lambda: _beta(world, first["id"])["recurrence"]["nextInSeriesTaskId"], what="next")

    # HQ's recurrence batch starts occurrence 2: it takes the task Planner made; none is created.
    wait_for(world.quiet, what="quiet after the completion")
    world.graph.reset_counters()
    world.commerce.change("recur_task_list", task_list=RECURRING)
    wait_for(
        lambda: (p := world.pair(f"{RECURRING}-2/1@0042")) is not None and p.planner is not None
        and p.planner.task_id == second_id,
        what="occurrence 2 mirrored onto the series' second task",
    )  # fmt: skip
    wait_for(world.quiet, what="quiet after occurrence 2")
    adopted = world.graph.counters()["totals"]
    print("graph requests for an adopted occurrence:", adopted)
    assert "POST /planner/tasks" not in adopted  # no create
    # The beta read of occurrence 1's task, one $batch read of the task Planner made, and the writes
    # that make it occurrence 2's (its description's footer names the new key; its new ETag).
    # (A poll landing in the window adds a $batch of plan listings, never a details read.)
    assert adopted.get("GET /planner/tasks/{id}/details") == 1
    assert adopted.get("PATCH /planner/tasks/{id}/details") == 1
    assert "Commerce task TL-20-2/1@0042" in world.details(second_id)["description"]

    # Occurrence 3 starts while occurrence 2 is still open in Teams: it waits (no second series).
    world.commerce.change("recur_task_list", task_list=RECURRING)
    wait_for(
        lambda: (r := world.state_call(lambda s: get_mirror(s, f"{RECURRING}-3/1@0042"))) is not None
        and r.outcome == "held" and r.reports[0]["kind"] == "series_waiting",
        what="occurrence 3 waiting for the series",
    )  # fmt: skip
    assert len(_series_tasks(world, "0042")) == 2

    # The store completes occurrence 2 at the POS: Planner continues, occurrence 3 takes that task.
    world.commerce.change("set_task_status", task_list=f"{RECURRING}-2", task="1", store="0042",
                          status="completed", by="000322")  # fmt: skip
    wait_for(
        lambda: (p := world.pair(f"{RECURRING}-3/1@0042")) is not None and p.planner is not None
        and p.planner.task_id is not None,
        timeout=30, what="occurrence 3 mirrored once occurrence 2 was completed",
    )  # fmt: skip
    wait_for(world.quiet, what="quiet after occurrence 3")
    tasks = _series_tasks(world, "0042")
    assert [t["recurrence"]["occurrenceId"] for t in tasks] == [1, 2, 3]
    assert {t["recurrence"]["seriesId"] for t in tasks} == {series}
    assert [t["percentComplete"] for t in tasks] == [100, 100, 0]
    # Planner copied the step into each next task; it is the same item, not a second one.
    assert [list(_checklist(world, t["id"]).values()) for t in tasks] == [[("Count the coins", False)]] * 3
    third = world.pair(f"{RECURRING}-3/1@0042")
    assert third is not None and third.planner is not None and third.planner.task_id == tasks[2]["id"]
    assert tasks[2]["dueDateTime"] == "2030-03-25T19:00:00Z"  # target + 2 weeks, noon Pacific
    assert "POST /planner/tasks" not in world.graph.counters()["totals"]  # none since occurrence 1


def _checklist(world: World, task_id: str) -> dict[str, tuple[str, bool]]:
    items = world.details(task_id)["checklist"]
    return {k: (v["title"], v["isChecked"]) for k, v in items.items()}


def test_priority_checklist_and_link_reach_planner_and_teams_edits_of_them_are_set_back(world: World) -> None:
    world.commerce.change("publish_task_list", task_list=OPENING, stores=["0042"], target_date="2030-03-11")
    task = wait_for(lambda: world.planner_task(f"{OPENING}/1@0042"), what="the opening task in Planner")
    wait_for(world.quiet, what="quiet after the publish")
    task = world.planner_task(f"{OPENING}/1@0042")
    assert task is not None and task["priority"] == 1  # urgent
    details = world.details(task["id"])
    assert sorted(_checklist(world, task["id"]).values()) == [("Doors open", False), ("Lights on", False)]
    assert "Before 9." in details["description"] and "Lights on" not in details["description"]
    key = "https%3A//contoso%2Eexample/opening%2Ehtml"  # '.' and ':' encoded, as Graph requires
    assert list(details["references"]) == [key]
    assert details["references"][key]["alias"] == "Commerce task link"
    ids = {title: k for k, (title, _) in _checklist(world, task["id"]).items()}

    # In Teams: tick a step, retitle the other, add an item of one's own, lower the priority.
    checklist = {
        ids["Lights on"]: {"@odata.type": "microsoft.graph.plannerChecklistItem", "isChecked": True},
        ids["Doors open"]: {"@odata.type": "microsoft.graph.plannerChecklistItem", "title": "Doors OPEN"},
        "c0ffee00-0000-4000-8000-000000000001": {
            "@odata.type": "microsoft.graph.plannerChecklistItem", "title": "Water the plants"},
    }  # fmt: skip
    resp = world.http.patch(
        f"/planner/tasks/{task['id']}/details", json={"checklist": checklist},
        headers={"If-Match": details["@odata.etag"]},
    )  # fmt: skip
    assert resp.status_code == 204
    world.graph.act("edit-task", taskId=task["id"], userId=world.users["ben@contoso.example"], priority=9)
    wait_for(
        lambda: (t := world.planner_task(f"{OPENING}/1@0042")) is not None and t["priority"] == 1
        and ("Doors open", False) in _checklist(world, task["id"]).values(),
        timeout=20, what="Commerce's priority and step title back",
    )  # fmt: skip
    wait_for(world.quiet, what="quiet after the Teams edits")
    assert sorted(_checklist(world, task["id"]).values()) == [
        ("Doors open", False), ("Lights on", True), ("Water the plants", False)
    ]  # fmt: skip
    assert world.counters().get("tasks.report.owned_field_overwritten", 0) >= 1

    # Commerce drops a step and adds one: one details PATCH, no other Graph write, no extra read.
    # (Waiting on the app's state only, so the sandbox's counters hold the app's requests alone.)
    before = world.pair(f"{OPENING}/1@0042")
    assert before is not None and before.planner is not None
    world.graph.reset_counters()
    world.commerce.change(
        "update_task", task_list=OPENING, task="1",
        fields={"notes": "Before 9.\n- [ ] Lights on\n- [ ] Alarm off"},
    )  # fmt: skip
    wait_for(
        lambda: (p := world.pair(f"{OPENING}/1@0042")) is not None and p.planner is not None
        and p.planner.details_etag != before.planner.details_etag and world.quiet(),
        what="the notes change mirrored",
    )  # fmt: skip
    totals = world.graph.counters()["totals"]
    print("graph requests for a notes change:", totals)
    assert totals.get("PATCH /planner/tasks/{id}/details") == 1
    assert "PATCH /planner/tasks/{id}" not in totals and "POST /planner/tasks" not in totals
    # Reads: the pair's $batch (task + details + buckets) per pass -- a poll landing in the window
    # adds a $batch of plan listings -- and the task once after the details write (its new ETag).
    passes = totals["GET /planner/tasks/{id}/details"]
    assert 1 <= passes <= totals["POST /$batch"] and totals["GET /planner/plans/{id}/buckets"] == passes
    assert totals["GET /planner/tasks/{id}"] == passes + 1
    assert sorted(_checklist(world, task["id"]).values()) == [
        ("Alarm off", False), ("Lights on", True), ("Water the plants", False)
    ]  # fmt: skip


def test_canceling_an_occurrence_stops_its_series_and_the_next_one_starts_a_new_one(world: World) -> None:
    world.commerce.change(
        "publish_task_list", task_list="TL-22", stores=["0043"], target_date="2030-03-11",
        recurrence={"pattern": "daily", "interval": 1},
    )  # fmt: skip
    first = wait_for(lambda: world.planner_task("TL-22/1@0043"), what="occurrence 1 in Planner")
    world.commerce.change("recur_task_list", task_list="TL-22")  # occurrence 1 still open: 2 waits
    wait_for(
        lambda: (r := world.state_call(lambda s: get_mirror(s, "TL-22-2/1@0043"))) is not None
        and r.outcome == "held",
        what="occurrence 2 waiting",
    )  # fmt: skip
    world.commerce.change("cancel_task", task_list="TL-22", task="1", store="0043")
    wait_for(
        lambda: (p := world.pair("TL-22-2/1@0043")) is not None and p.planner is not None
        and p.planner.task_id is not None,
        timeout=30, what="occurrence 2 mirrored after occurrence 1 was canceled",
    )  # fmt: skip
    wait_for(world.quiet, what="quiet after the cancel")
    names = world.buckets("0043")
    tasks = [
        _beta(world, t["id"])
        for t in world.planner_tasks("0043")
        if names.get(t["bucketId"]) == "Daily till check"
    ]
    # Occurrence 1's task is gone without a continuation; occurrence 2's starts a new series.
    assert [t["id"] for t in tasks] == [world.pair("TL-22-2/1@0043").planner.task_id]  # type: ignore[union-attr]
    assert first["id"] not in {t["id"] for t in tasks}
    rec = tasks[0]["recurrence"]
    assert rec["occurrenceId"] == 1 and rec["schedule"]["pattern"]["type"] == "daily"
    assert tasks[0]["dueDateTime"] == "2030-03-12T19:00:00Z"  # the next day, noon Pacific

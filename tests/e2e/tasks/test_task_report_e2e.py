"""The completion report of a task list and the store / region opt-out of task mirroring, end to
end: the local host runs the task, Commerce event and ops blueprints (report_app.py) against the
Graph and Commerce sandboxes; the report is read through `GET /api/ops/tasks/report/{list}`, `cts
tasks report` (its own process) and the ops page's view.

One world for the module: stores 0042 and 0043 in region WEST, 0044 in region EAST; store 0043 is
excluded (`CTS_CONTROL__EXCLUDED_STORES`) and so is region EAST (`CTS_CONTROL__EXCLUDED_REGIONS`).
Each test publishes its own task list, so the tests pass alone and in any order.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_tasks_e2e import KEY, ORG, World, running_world, wait_for

APP = str(Path(__file__).with_name("report_app.py"))
ROOT = Path(__file__).resolve().parents[3]

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions.*"),
]


def _org() -> dict[str, Any]:
    org = copy.deepcopy(ORG)
    org["regions"].append({"id": "EAST", "name": "East", "managers": []})
    for store in org["stores"]:
        if store["number"] == "0044":
            store["region"] = "EAST"
    return org


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    optout = {
        "CTS_CONTROL__EXCLUDED_STORES": '["0043"]',
        "CTS_CONTROL__EXCLUDED_REGIONS": '["EAST"]',
    }
    with running_world(tmp_path_factory.mktemp("report"), APP, optout, org=_org()) as w:
        yield w


def _app(world: World, route: str, **params: str) -> httpx.Response:
    return httpx.get(f"{world.host.base_url}/api/{route}", params={**params, "code": KEY}, timeout=60)


def _last_pass(world: World, key: str) -> dict[str, Any] | None:
    r = _app(world, "ops/tasks", key=key)
    return r.json()[0]["last_pass"] if r.status_code == 200 else None


def _excluded(world: World, key: str) -> dict[str, Any] | None:
    found = _last_pass(world, key)
    return found if found and found["outcome"] == "excluded" else None


def _graph_writes(world: World) -> dict[str, int]:
    requests: dict[str, dict[str, int]] = world.graph.counters()["requests"]
    return {
        r: sum(n.values()) for r, n in requests.items() if not r.startswith("GET ") and r != "POST /$batch"
    }


def _cts(world: World, *args: str, exit_code: int = 0) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(
        [sys.executable, "-m", "cts", "--target", "azure", "--host", world.host.base_url, "--key", KEY,
         *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == exit_code, run.stderr or run.stdout
    return run


def test_an_excluded_store_and_a_store_of_an_excluded_region_are_reported_and_never_written(
    world: World,
) -> None:
    wait_for(world.quiet, what="the world to be quiet")
    world.graph.reset_counters()
    world.commerce.change(
        "publish_task_list", task_list="TL-9", stores=["0043", "0044"], target_date="2030-03-10"
    )
    store, region = (
        wait_for(lambda k=k: _excluded(world, k), timeout=60, what=f"{k} reported excluded")
        for k in ("TL-9/1@0043", "TL-9/1@0044")
    )  # fmt: skip
    assert "store 0043 is excluded" in store["problems"][0]["detail"]
    assert "excluded region EAST" in region["problems"][0]["detail"]
    wait_for(world.quiet, what="the passes to finish")
    assert _graph_writes(world) == {}  # not even the stores' plans were created
    assert world.plan_id("0043") is None and world.plan_id("0044") is None
    assert world.pair("TL-9/1@0043") is None and world.pair("TL-9/1@0044") is None


def test_the_completion_report_counts_done_open_and_overdue_per_region_and_store(world: World) -> None:
    # Published long ago: both tasks (due 2 days before and on the target date) are overdue now.
    world.commerce.change(
        "publish_task_list", task_list="TL-7", stores=["0042", "0043", "0044"], target_date="2020-01-10"
    )
    wait_for(lambda: world.planner_task("TL-7/1@0042") and world.planner_task("TL-7/2@0042"),
             timeout=60, what="0042's tasks in Planner")  # fmt: skip
    world.commerce.change("set_task_status", task_list="TL-7", task="1", store="0042", status="completed",
                          by="000321")  # fmt: skip
    world.commerce.change("cancel_task", task_list="TL-7", task="2", store="0044")
    wait_for(lambda: (world.planner_task("TL-7/1@0042") or {}).get("percentComplete") == 100,
             timeout=60, what="the completion mirrored to Planner")  # fmt: skip
    wait_for(world.quiet, timeout=60, what="the passes to finish")

    world.commerce.reset_counters()
    r = _app(world, "ops/tasks/report/TL-7")
    assert r.status_code == 200, r.text
    reads = world.commerce.counters()
    report = r.json()
    assert report["task_list"] == "TL-7" and report["list_name"] == "Holiday reset"
    regions = {g["region"]: g for g in report["regions"]}
    stores = {s["store"]: s for g in report["regions"] for s in g["stores"]}
    assert set(regions) == {"EAST", "WEST"} and set(stores) == {"0042", "0043", "0044"}

    def counts(**kw: int) -> dict[str, int]:
        base = dict.fromkeys(("tasks", "done", "open", "overdue", "canceled", "not_mirrored", "problems"), 0)
        return {**base, **kw}

    assert stores["0042"]["counts"] == counts(tasks=2, done=1, open=1, overdue=1)
    assert stores["0043"]["counts"] == counts(tasks=2, open=2, overdue=2, not_mirrored=2, problems=2)
    assert stores["0042"]["overdue_tasks"] == ["TL-7/2@0042"]
    assert stores["0042"]["time_zone"] == "America/Los_Angeles"
    assert all("excluded" in p for p in stores["0043"]["problems"])
    east = stores["0044"]["counts"]
    assert [east[k] for k in ("tasks", "open", "canceled", "overdue", "not_mirrored")] == [2, 1, 1, 1, 1]
    for name, group in regions.items():  # a region's counts are its stores' sums
        assert group["counts"] == {
            k: sum(s["counts"][k] for s in group["stores"]) for k in group["counts"]
        }, name
    assert report["totals"]["tasks"] == 6 and report["totals"]["done"] == 1
    # Bulk reads only: the same few Commerce queries whatever the number of stores.
    gets = sum(n for route, n in reads.items() if route.startswith("GET "))
    assert gets == sum(reads.values()) and gets <= 8, reads

    east_only = _app(world, "ops/tasks/report/TL-7", region="EAST").json()
    assert [g["region"] for g in east_only["regions"]] == ["EAST"] and east_only["totals"]["tasks"] == 2
    assert _app(world, "ops/tasks/report/TL-404").status_code == 404
    assert _app(world, "ops/tasks/report/TL-7", region=" EAST").status_code == 200  # trimmed
    assert _app(world, "ops/tasks/report/TL'7").status_code == 400  # the id rules (shared/domain/ids.py)
    assert _app(world, "ops/tasks/report/TL-7", region="WEST;").status_code == 400

    # The same through `cts tasks report` (its own process, the ops endpoint).
    by_cts = json.loads(_cts(world, "tasks", "report", "TL-7", "--json").stdout)
    assert {**by_cts, "generated": None} == {**report, "generated": None}
    text = _cts(world, "tasks", "report", "TL-7", "--region", "WEST").stdout
    assert "4 store task(s): 1 done, 3 open (3 overdue), 0 canceled; 2 not yet mirrored" in text
    assert "TL-7/1@0043: excluded" in text
    missing = _cts(world, "tasks", "report", "TL-404", exit_code=1)
    assert missing.stderr.strip() == "error: no task list TL-404 in Commerce"

    # And on the ops page: per list and region.
    view = _app(world, "ops/view", format="json").json()
    [shown] = [t for t in view["task_lists"] if t["task_list"] == "TL-7"]
    assert shown["totals"] == report["totals"]
    assert {r["region"]: r["overdue"] for r in shown["regions"]} == {"EAST": 1, "WEST": 3}
    html = _app(world, "ops/view").text
    assert 'id="task-lists"' in html and 'data-task-list="TL-7"' in html


def test_cts_tasks_report_has_help() -> None:
    run = subprocess.run([sys.executable, "-m", "cts", "tasks", "report", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0 and "--region" in run.stdout and "overdue" in run.stdout

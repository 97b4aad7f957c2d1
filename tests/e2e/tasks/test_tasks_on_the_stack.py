"""Task mirroring on the whole app (function_app.py on the local stack, host in its own process):
a task list published to every store while Graph throttles 30 % of requests and the host is
killed twice mid-run ends with each store's plan holding each task exactly once; a task completed
in Teams, with another crash right after, reaches Commerce with who did it. Checked through Graph
(the scenario report) and the Commerce API, never the app's own state.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from local.scenarios.player import parse_scenario, run_scenario

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions.*"),
]

SCENARIOS = Path(__file__).resolve().parents[3] / "local" / "scenarios"
SAMPLE = json.loads((SCENARIOS / "sample-org.json").read_text(encoding="utf-8"))
STORES = [s["number"] for s in SAMPLE["stores"]]
# A store without a manager gets no team (provisioning.md); its tasks wait, blocked and reported.
WITH_TEAM = sorted({a["store"] for a in SAMPLE["assignments"] if a["role"] == "manager"})
TL1 = next(t for t in SAMPLE["task_lists"] if t["id"] == "TL-1")
TITLES = sorted(t["name"] for t in TL1["tasks"])
MANAGER = next(
    w for w in SAMPLE["workers"]
    if any(a["personnel_number"] == w["personnel_number"] and a["store"] == "0001" and a["role"] == "manager"
           for a in SAMPLE["assignments"])
)  # fmt: skip


def test_tasks_survive_throttling_and_host_kills_without_duplicates() -> None:
    steps: list[dict[str, Any]] = [
        {"fault": "graph_throttle", "ratio": 0.3, "seconds": 1, "for_seconds": 20},
        {"commerce": "publish_task_list", "task_list": "TL-1", "stores": STORES, "target_date": "2026-12-15"},
        {"wait": 1.0},
        {"fault": "crash_host"},
        {"wait": 1.0},
        {"fault": "crash_host"},
        {"wait": "converged", "timeout": 180},
        {"teams": "complete_task", "store": "0001", "task": "TL-1/1", "by": MANAGER["personnel_number"]},
        {"fault": "crash_host"},
        {"wait": "converged", "timeout": 180},
    ]
    report = run_scenario(parse_scenario({"org": "sample-org.json", "steps": steps}, base_dir=SCENARIOS))
    assert report["timings"]["converged"], report["run"]

    plans = {t["store"]: t["plan"] for t in report["teams"] if t["store"] in STORES}
    assert sorted(plans) == WITH_TEAM and len(WITH_TEAM) >= 8
    for store, plan in plans.items():
        assert plan is not None, f"store {store} has no plan"
        mirrored = [t["title"] for t in plan["tasks"] if t["bucket"] == TL1["name"]]
        duplicates = {title: n for title, n in Counter(mirrored).items() if n > 1}
        assert not duplicates, f"store {store}: duplicated tasks {duplicates}"
        assert sorted(mirrored) == TITLES, f"store {store}: {mirrored}"
        for task in plan["tasks"]:
            if task["bucket"] == TL1["name"]:
                assert task["due"] is not None

    done = next(t for t in plans["0001"]["tasks"] if t["title"] == TL1["tasks"][0]["name"])
    assert done["percent_complete"] == 100
    rows = {(r["task"], r["store"]): r for r in report["commerce_tasks"] if r["task_list"] == "TL-1"}
    assert len(rows) == len(STORES) * len(TITLES)
    assert rows[("1", "0001")]["status"] == "completed"
    assert rows[("1", "0001")]["completed_by"] == MANAGER["personnel_number"]
    others = [r for k, r in rows.items() if k != ("1", "0001")]
    assert all(r["status"] == "not_started" for r in others), others

"""Beta Planner task delta, plan-scoped: snapshot round, incremental rounds, deletions, paging,
expired and foreign tokens, and nothing of it under /v1.0."""

from __future__ import annotations

from typing import Any

import httpx

from local.graph.testing import GraphSandbox

from .test_planner import _plan


def _round(beta: httpx.Client, url: str) -> tuple[list[dict[str, Any]], str]:
    """Follow nextLinks to the deltaLink; returns every item and the deltaLink."""
    items: list[dict[str, Any]] = []
    while True:
        resp = beta.get(url)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        items += page["value"]
        if "@odata.deltaLink" in page:
            return items, page["@odata.deltaLink"]
        url = page["@odata.nextLink"]


def _beta(graph: GraphSandbox) -> httpx.Client:
    return httpx.Client(
        base_url=graph.base_url.replace("/v1.0", "/beta"), headers=graph.auth_headers, timeout=10
    )


def test_delta_rounds_report_each_changed_task_once_and_deletions(
    graph: GraphSandbox, http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    plan = _plan(http, users)
    tasks = [
        http.post("/planner/tasks", json={"planId": plan["id"], "title": f"Task {i}"}).json()
        for i in range(3)
    ]
    with _beta(graph) as beta:
        first, link = _round(beta, f"/planner/plans/{plan['id']}/tasks/delta")
        assert sorted(t["id"] for t in first) == sorted(t["id"] for t in tasks)
        assert f"/beta/planner/plans('{plan['id']}')/tasks?$deltatoken=" in link  # the documented shape
        assert _round(beta, link)[0] == []  # nothing changed

        graph.act("start-task", taskId=tasks[0]["id"], userId=users[1]["id"])
        graph.act("complete-task", taskId=tasks[0]["id"], userId=users[1]["id"])
        etag = http.get(f"/planner/tasks/{tasks[1]['id']}").json()["@odata.etag"]
        assert http.delete(f"/planner/tasks/{tasks[1]['id']}", headers={"If-Match": etag}).status_code == 204
        changed, link2 = _round(beta, link)
        by_id = {t["id"]: t for t in changed}
        assert set(by_id) == {tasks[0]["id"], tasks[1]["id"]}  # each once, however often it changed
        assert by_id[tasks[0]["id"]]["percentComplete"] == 100
        assert by_id[tasks[0]["id"]]["@odata.etag"] != tasks[0]["@odata.etag"]
        assert by_id[tasks[1]["id"]]["@removed"] == {"reason": "deleted"}
        assert _round(beta, link2)[0] == []


def test_a_snapshot_round_pages_and_v1_has_no_delta(
    graph: GraphSandbox, http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    plan = _plan(http, users)
    for i in range(130):
        http.post("/planner/tasks", json={"planId": plan["id"], "title": f"Task {i}"})
    with _beta(graph) as beta:
        first = beta.get(f"/planner/plans/{plan['id']}/tasks/delta").json()
        assert len(first["value"]) == 100 and "@odata.nextLink" in first
        items, _ = _round(beta, f"/planner/plans/{plan['id']}/tasks/delta")
        assert len({t["id"] for t in items}) == 130
    resp = http.get(f"/planner/plans/{plan['id']}/tasks/delta")
    assert resp.status_code == 400


def test_expired_foreign_and_malformed_tokens(
    graph: GraphSandbox, http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    plan = _plan(http, users)
    other = _plan(http, users[1:])
    http.post("/planner/tasks", json={"planId": plan["id"], "title": "Task"})
    with _beta(graph) as beta:
        _, link = _round(beta, f"/planner/plans/{plan['id']}/tasks/delta")
        foreign = link.replace(plan["id"], other["id"])
        gone = beta.get(foreign)
        assert gone.status_code == 410 and gone.json()["error"]["code"] == "syncStateNotFound"
        assert beta.get(f"/planner/plans('{plan['id']}')/tasks?$deltatoken=nonsense").status_code == 400
        graph.expire_delta_tokens()
        assert beta.get(link).status_code == 410
        assert beta.get(f"/planner/plans/{plan['id']}/tasks/delta").status_code == 200  # restart works

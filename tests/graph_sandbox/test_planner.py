"""Planner over plain HTTP: ETags, If-Match, 412, Prefer, limits, acting as a person."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from local.graph.testing import GraphSandbox

from .conftest import create_team


def _plan(http: httpx.Client, users: list[dict[str, Any]]) -> dict[str, Any]:
    team_id = create_team(http, "Store P", users[0]["id"])
    resp = http.post(
        "/planner/plans",
        json={"container": {"url": f"https://graph.microsoft.com/v1.0/groups/{team_id}"}, "title": "Tasks"},
    )
    assert resp.status_code == 201
    assert [p["id"] for p in http.get(f"/groups/{team_id}/planner/plans").json()["value"]] == [
        resp.json()["id"]
    ]
    return dict(resp.json())


def test_task_writes_need_the_current_etag_and_every_write_changes_it(
    http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    plan = _plan(http, users)
    bucket = http.post(
        "/planner/buckets", json={"planId": plan["id"], "name": "Store tasks", "orderHint": " !"}
    ).json()
    task = http.post(
        "/planner/tasks", json={"planId": plan["id"], "bucketId": bucket["id"], "title": "Count stock"}
    ).json()
    etag = task["@odata.etag"]
    assert etag.startswith('W/"')
    missing = http.patch(f"/planner/tasks/{task['id']}", json={"percentComplete": 50})
    assert missing.status_code == 400 and "If-Match" in missing.json()["error"]["message"]
    assert (
        http.patch(
            f"/planner/tasks/{task['id']}", json={"percentComplete": 50}, headers={"If-Match": etag}
        ).status_code
        == 204
    )
    stale = http.patch(f"/planner/tasks/{task['id']}", json={"title": "x"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    current = http.get(f"/planner/tasks/{task['id']}").json()
    assert (
        current["@odata.etag"] != etag and current["@odata.etag"] > etag and current["percentComplete"] == 50
    )
    assert "lastModifiedDateTime" not in current  # not in v1.0 plannerTask
    rep = http.patch(
        f"/planner/tasks/{task['id']}",
        json={"percentComplete": 100},
        headers={"If-Match": current["@odata.etag"], "Prefer": "return=representation"},
    )
    assert (
        rep.status_code == 200
        and rep.json()["completedDateTime"]
        and rep.json()["completedBy"]["application"]
    )
    assert http.delete(f"/planner/tasks/{task['id']}", headers={"If-Match": etag}).status_code == 412
    assert (
        http.delete(
            f"/planner/tasks/{task['id']}", headers={"If-Match": rep.json()["@odata.etag"]}
        ).status_code
        == 204
    )


def test_planner_limits_answer_403_with_the_limit_code(
    http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    plan = _plan(http, users)
    assignments = {
        u["id"]: {"@odata.type": "#microsoft.graph.plannerAssignment", "orderHint": " !"} for u in users[:21]
    }
    too_many = http.post(
        "/planner/tasks", json={"planId": plan["id"], "title": "t", "assignments": assignments}
    )
    assert too_many.status_code == 403 and too_many.json()["error"]["code"] == "MaximumAssigneesInTasks"
    task = http.post("/planner/tasks", json={"planId": plan["id"], "title": "t"}).json()
    details = http.get(f"/planner/tasks/{task['id']}/details").json()
    checklist = {
        f"item{i}": {"@odata.type": "#microsoft.graph.plannerChecklistItem", "title": f"Step {i}"}
        for i in range(21)
    }
    resp = http.patch(
        f"/planner/tasks/{task['id']}/details",
        json={"checklist": checklist},
        headers={"If-Match": details["@odata.etag"]},
    )
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "MaximumChecklistItemsOnTask"
    ok = http.patch(
        f"/planner/tasks/{task['id']}/details",
        json={"description": "Count every shelf", "checklist": dict(list(checklist.items())[:3])},
        headers={"If-Match": details["@odata.etag"], "Prefer": "return=representation"},
    )
    assert ok.status_code == 200 and len(ok.json()["checklist"]) == 3
    after = http.get(f"/planner/tasks/{task['id']}").json()
    assert after["checklistItemCount"] == 3 and after["hasDescription"] is True


def test_a_person_completing_a_task_changes_etag_and_completed_by(
    graph: GraphSandbox, http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    plan = _plan(http, users)
    task = http.post("/planner/tasks", json={"planId": plan["id"], "title": "Clean"}).json()
    graph.act("complete-task", taskId=task["id"], userId=users[3]["id"])
    after = http.get(f"/planner/tasks/{task['id']}").json()
    assert after["percentComplete"] == 100 and after["completedBy"]["user"]["id"] == users[3]["id"]
    assert after["@odata.etag"] != task["@odata.etag"]
    beta = httpx.get(f"{graph.beta_url}/planner/tasks/{task['id']}", headers=graph.auth_headers).json()
    assert "lastModifiedDateTime" in beta


def test_a_published_task_shows_its_origin_only_on_beta_and_cannot_be_deleted(
    graph: GraphSandbox, http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    plan = _plan(http, users)
    published = graph.act(
        "publish-task",
        planId=plan["id"],
        title="Set up the spring display",
        publicationId="pub-1",
        publicationName="Spring launch",
        publishingTeamId="hq-team",
    )
    adhoc = graph.act("create-task", planId=plan["id"], title="Fix the door", userId=users[2]["id"])
    v1 = http.get(f"/planner/tasks/{published['id']}").json()
    assert "creationSource" not in v1  # v1.0 has no creationSource
    beta = httpx.get(f"{graph.beta_url}/planner/tasks/{published['id']}", headers=graph.auth_headers).json()
    source = beta["creationSource"]
    assert source["@odata.type"] == "#microsoft.graph.plannerTeamsPublicationInfo"
    assert (source["creationSourceKind"], source["publicationId"], source["publicationName"]) == (
        "publication",
        "pub-1",
        "Spring launch",
    )
    assert source["publishedToPlanId"] == plan["id"] and source["publishingTeamId"] == "hq-team"
    listed = httpx.get(f"{graph.beta_url}/planner/plans/{plan['id']}/tasks", headers=graph.auth_headers)
    by_id = {t["id"]: t for t in listed.json()["value"]}
    assert by_id[adhoc["id"]]["creationSource"] is None
    assert by_id[adhoc["id"]]["createdBy"]["user"]["id"] == users[2]["id"]
    # Published tasks "can't be deleted": by the app and by a person.
    refused = http.delete(f"/planner/tasks/{published['id']}", headers={"If-Match": v1["@odata.etag"]})
    assert refused.status_code == 403
    with pytest.raises(httpx.HTTPStatusError) as by_hand:
        graph.act("delete-task", taskId=published["id"], userId=users[2]["id"])
    assert by_hand.value.response.status_code == 403
    assert http.get(f"/planner/tasks/{published['id']}").status_code == 200
    ad_hoc_etag = http.get(f"/planner/tasks/{adhoc['id']}").json()["@odata.etag"]
    assert http.delete(f"/planner/tasks/{adhoc['id']}", headers={"If-Match": ad_hoc_etag}).status_code == 204


def test_scenario_steps_make_an_ad_hoc_and_a_published_task_in_the_store_plan(
    graph: GraphSandbox, http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    from local.stack.people import act_in_teams

    plan = _plan(http, users)
    team_id = plan["container"]["containerId"]

    class Stack:  # what `act_in_teams` uses of the local stack
        def __init__(self) -> None:
            self.graph, self.changed = graph, 0
            self.commerce = type("C", (), {"mappings": lambda _: [{"store": "0042", "team_id": team_id}]})()

        def state(self) -> Any:
            raise RuntimeError("no state store in this test")

        def planner_changed(self) -> None:
            self.changed += 1

    stack = Stack()
    by = users[3]["employeeId"]
    act_in_teams(stack, {"teams": "create_task", "store": "0042", "title": "Fix the door", "by": by})  # type: ignore[arg-type]
    act_in_teams(stack, {"teams": "publish_task", "store": "0042", "title": "Spring", "publication": "pub-9"})  # type: ignore[arg-type]
    rows = httpx.get(f"{graph.beta_url}/planner/plans/{plan['id']}/tasks", headers=graph.auth_headers).json()
    made = {t["title"]: t for t in rows["value"]}
    assert made["Fix the door"]["createdBy"]["user"]["id"] == users[3]["id"]
    assert made["Fix the door"]["creationSource"] is None
    assert made["Spring"]["creationSource"]["publicationId"] == "pub-9" and stack.changed == 2

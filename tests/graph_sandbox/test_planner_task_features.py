"""Planner task features over plain HTTP. Recurrence (beta only): a schedule starts a series,
completing or deleting its latest task continues it, a null schedule stops it; v1.0 neither shows
nor accepts it (https://learn.microsoft.com/graph/api/resources/plannertaskrecurrence?view=graph-rest-beta).
References: encoded URL keys."""

from __future__ import annotations

from typing import Any

import httpx

from local.graph.testing import GraphSandbox

from .conftest import create_team

WEEKLY = {
    "schedule": {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday"},
        "patternStartDateTime": "2030-03-11T19:00:00Z",
    }
}


def _task(http: httpx.Client, users: list[dict[str, Any]]) -> dict[str, Any]:
    team_id = create_team(http, "Store R", users[0]["id"])
    plan = http.post(
        "/planner/plans",
        json={"container": {"url": f"https://graph.microsoft.com/v1.0/groups/{team_id}"}, "title": "Tasks"},
    ).json()
    task = http.post(
        "/planner/tasks",
        json={"planId": plan["id"], "title": "Weekly count", "dueDateTime": "2030-03-11T19:00:00Z"},
    ).json()
    details = http.get(f"/planner/tasks/{task['id']}/details").json()
    http.patch(
        f"/planner/tasks/{task['id']}/details",
        json={"description": "Count the shelves",
              "checklist": {"a1": {"@odata.type": "microsoft.graph.plannerChecklistItem",
                                   "title": "Aisle 1"}}},
        headers={"If-Match": details["@odata.etag"]},
    )  # fmt: skip
    return dict(http.get(f"/planner/tasks/{task['id']}").json())


def _beta(graph: GraphSandbox) -> httpx.Client:
    return httpx.Client(
        base_url=graph.base_url.replace("/v1.0", "/beta"), headers=graph.auth_headers, timeout=10
    )


def test_a_schedule_starts_a_series_and_completing_its_task_continues_it(
    graph: GraphSandbox, http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    task = _task(http, users)
    refused = http.patch(
        f"/planner/tasks/{task['id']}", json={"recurrence": WEEKLY}, headers={"If-Match": task["@odata.etag"]}
    )
    assert refused.status_code == 400 and "recurrence" in refused.json()["error"]["message"]
    with _beta(graph) as beta:
        assert beta.get(f"/planner/tasks/{task['id']}").json()["recurrence"] is None
        started = beta.patch(
            f"/planner/tasks/{task['id']}",
            json={"recurrence": WEEKLY},
            headers={"If-Match": task["@odata.etag"], "Prefer": "return=representation"},
        ).json()
        rec = started["recurrence"]
        assert rec["occurrenceId"] == 1 and rec["seriesId"] and rec["nextInSeriesTaskId"] is None
        assert rec["schedule"]["nextOccurrenceDateTime"] == "2030-03-18T19:00:00Z"
        assert "recurrence" not in http.get(f"/planner/tasks/{task['id']}").json()  # not in v1.0
        graph.act("complete-task", taskId=task["id"], userId=users[1]["id"])
        first = beta.get(f"/planner/tasks/{task['id']}").json()["recurrence"]
        second = beta.get(f"/planner/tasks/{first['nextInSeriesTaskId']}").json()
        assert second["recurrence"]["seriesId"] == rec["seriesId"]
        assert second["recurrence"]["occurrenceId"] == 2
        assert second["recurrence"]["previousInSeriesTaskId"] == task["id"]
        assert second["dueDateTime"] == "2030-03-18T19:00:00Z" and second["percentComplete"] == 0
        assert second["title"] == "Weekly count"
        details = http.get(f"/planner/tasks/{second['id']}/details").json()
        assert details["description"] == "Count the shelves"
        assert [i["isChecked"] for i in details["checklist"].values()] == [False]
        # Completing the first again does not continue the series twice.
        assert len(http.get(f"/planner/plans/{task['planId']}/tasks").json()["value"]) == 2


def test_deleting_continues_the_series_unless_its_schedule_was_set_to_null_first(
    graph: GraphSandbox, http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    task = _task(http, users)
    with _beta(graph) as beta:
        started = beta.patch(
            f"/planner/tasks/{task['id']}",
            json={"recurrence": WEEKLY},
            headers={"If-Match": task["@odata.etag"], "Prefer": "return=representation"},
        ).json()
        assert (
            http.delete(
                f"/planner/tasks/{task['id']}", headers={"If-Match": started["@odata.etag"]}
            ).status_code
            == 204
        )
        left = http.get(f"/planner/plans/{task['planId']}/tasks").json()["value"]
        assert len(left) == 1 and left[0]["id"] != task["id"]
        follow = beta.get(f"/planner/tasks/{left[0]['id']}").json()
        assert follow["recurrence"]["occurrenceId"] == 2
        stopped = beta.patch(
            f"/planner/tasks/{follow['id']}",
            json={"recurrence": {"schedule": None}},
            headers={"If-Match": follow["@odata.etag"], "Prefer": "return=representation"},
        ).json()
        assert stopped["recurrence"]["schedule"] is None and stopped["recurrence"]["seriesId"]
        nulled = beta.patch(
            f"/planner/tasks/{follow['id']}", json={"recurrence": None},
            headers={"If-Match": stopped["@odata.etag"]},
        )  # fmt: skip
        assert nulled.status_code == 400
        http.delete(f"/planner/tasks/{follow['id']}", headers={"If-Match": stopped["@odata.etag"]})
        assert http.get(f"/planner/plans/{task['planId']}/tasks").json()["value"] == []


def test_reference_keys_must_be_encoded_urls_and_name_their_type(
    http: httpx.Client, users: list[Any]
) -> None:
    """https://learn.microsoft.com/graph/api/resources/plannerexternalreferences: `.`, `:`, `%`,
    `@`, `#` are encoded in the key; "@odata.type" is required in a PATCH."""
    task = _task(http, users)
    details = http.get(f"/planner/tasks/{task['id']}/details").json()
    ref = {"@odata.type": "microsoft.graph.externalReference", "alias": "Planogram", "type": "Other"}
    for key, value in (
        ("https://contoso.example/planogram", ref),  # not encoded
        ("https%3A//contoso%2Eexample/a%ZZ", ref),  # a bare '%'
        ("ftp%3A//contoso%2Eexample", ref),  # not http(s)
        ("https%3A//contoso%2Eexample/planogram", {"alias": "Planogram"}),  # no @odata.type
    ):
        bad = http.patch(
            f"/planner/tasks/{task['id']}/details",
            json={"references": {key: value}},
            headers={"If-Match": details["@odata.etag"]},
        )
        assert bad.status_code == 400, key
    good = http.patch(
        f"/planner/tasks/{task['id']}/details",
        json={"references": {"https%3A//contoso%2Eexample/planogram": ref}},
        headers={"If-Match": details["@odata.etag"], "Prefer": "return=representation"},
    )
    assert good.status_code == 200
    assert good.json()["references"]["https%3A//contoso%2Eexample/planogram"]["alias"] == "Planogram"
    assert http.get(f"/planner/tasks/{task['id']}").json()["referenceCount"] == 1

"""$batch, throttling and injected faults, and /groups/delta."""

from __future__ import annotations

from typing import Any

import httpx

from local.graph.testing import GraphSandbox, running_graph_sandbox

from .conftest import create_team, member


def test_batch_runs_dependencies_answers_424_and_refuses_more_than_20(
    http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    requests = [
        {"id": "1", "method": "GET", "url": f"/users/{users[0]['id']}"},
        {"id": "2", "method": "GET", "url": "/users/nobody@contoso.com"},
        {
            "id": "3",
            "method": "GET",
            "url": f"users/{users[1]['id']}?$select=displayName",
            "dependsOn": ["1"],
        },
        {"id": "4", "method": "GET", "url": f"/users/{users[2]['id']}", "dependsOn": ["2"]},
    ]
    resp = http.post("/$batch", json={"requests": requests})
    assert resp.status_code == 200
    by_id = {r["id"]: r for r in resp.json()["responses"]}
    assert {k: v["status"] for k, v in by_id.items()} == {"1": 200, "2": 404, "3": 200, "4": 424}
    assert by_id["3"]["body"]["displayName"] == "User 2"
    assert [r["id"] for r in resp.json()["responses"]] != ["1", "2", "3", "4"]  # any order
    too_many = [{"id": str(i), "method": "GET", "url": "/users"} for i in range(21)]
    assert http.post("/$batch", json={"requests": too_many}).status_code == 400
    dup = [{"id": "1", "method": "GET", "url": "/users"}] * 2
    assert http.post("/$batch", json={"requests": dup}).status_code == 400


def test_forced_429s_carry_retry_after_and_are_counted(
    graph: GraphSandbox, http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    graph.set_faults("GET /users/{id}", throttle_ratio=1.0, retry_after=2, seconds=30)
    resp = http.get(f"/users/{users[0]['id']}")
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "2"
    assert resp.json()["error"]["code"] == "TooManyRequests"
    requests = [
        {"id": "a", "method": "GET", "url": f"/users/{users[0]['id']}"},
        {"id": "b", "method": "GET", "url": "/users"},
    ]
    batch = http.post("/$batch", json={"requests": requests})
    statuses = {r["id"]: r["status"] for r in batch.json()["responses"]}
    assert statuses == {"a": 429, "b": 200}  # throttling applies per inner request
    graph.set_faults("/users", status=503, seconds=30)
    assert http.get("/users").status_code == 503
    graph.clear_faults()
    assert http.get("/users").status_code == 200
    assert graph.counters()["throttled"] == 2


def test_more_than_4_writes_per_second_on_one_team_are_throttled(tmp_path: Any) -> None:
    with running_graph_sandbox(tmp_path / "g.sqlite", scale=1.0, async_delay=0.0) as graph:
        owner = graph.seed_users([{"userPrincipalName": "ann@contoso.com"}])[0]
        with httpx.Client(base_url=graph.base_url, headers=graph.auth_headers) as http:
            team_id = create_team(http, "Busy", owner["id"])
            statuses = [
                http.post(f"/teams/{team_id}/channels", json={"displayName": f"c{i}"}).status_code
                for i in range(6)
            ]
            assert statuses[:4] == [201] * 4 and 429 in statuses[4:]
            assert (
                http.get(f"/teams/{team_id}/channels").status_code == 200
            )  # reads are not in the per-team bucket


def test_groups_delta_tracks_members_and_answers_410_for_an_expired_token(
    graph: GraphSandbox, http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    team_id = create_team(http, "Store D", users[0]["id"])
    http.post(
        f"/teams/{team_id}/members/add", json={"values": [member(users[1]["id"]), member(users[2]["id"])]}
    )
    first = http.get("/groups/delta()", params={"$select": "displayName,members"}).json()
    assert [g["id"] for g in first["value"]] == [team_id]
    assert {m["id"] for m in first["value"][0]["members@delta"]} == {
        users[0]["id"],
        users[1]["id"],
        users[2]["id"],
    }
    delta_link = first["@odata.deltaLink"]
    assert "$deltatoken=" in delta_link
    latest = http.get(
        "/groups/delta", params={"$select": "displayName,members", "$deltatoken": "latest"}
    ).json()
    assert latest["value"] == [] and "@odata.deltaLink" in latest
    quiet = http.get(delta_link).json()
    assert quiet["value"] == []
    graph.act("remove-member", teamId=team_id, userId=users[1]["id"])
    http.post(f"/teams/{team_id}/members/add", json={"values": [member(users[3]["id"])]})
    change = http.get(quiet["@odata.deltaLink"]).json()
    members = {m["id"]: m for m in change["value"][0]["members@delta"]}
    assert members[users[1]["id"]]["@removed"] == {"reason": "deleted"}
    assert "@removed" not in members[users[3]["id"]]
    http.delete(f"/groups/{team_id}")
    removed = http.get(change["@odata.deltaLink"]).json()
    assert removed["value"] == [{"id": team_id, "@removed": {"reason": "changed"}}]
    graph.expire_delta_tokens()
    gone = http.get(removed["@odata.deltaLink"])
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "syncStateNotFound"
    assert "$deltatoken=" in gone.headers["Location"]

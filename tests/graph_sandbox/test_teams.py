"""Teams, members and channels over plain HTTP."""

from __future__ import annotations

import time
from typing import Any

import httpx

from local.graph.testing import GraphSandbox

from .conftest import TEMPLATE, create_team, member


def test_team_creation_is_async_and_the_team_appears_when_the_operation_succeeds(
    http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    resp = http.post(
        "/teams",
        json={
            "template@odata.bind": TEMPLATE,
            "displayName": "Store 0042",
            "members": [member(users[0]["id"], True)],
        },
    )
    assert resp.status_code == 202 and resp.content == b""
    team_id = resp.headers["content-location"].split("'")[1]
    assert resp.headers["location"].startswith(f"/teams('{team_id}')/operations('")
    op = http.get(resp.headers["location"]).json()
    assert op["operationType"] == "createTeam" and op["status"] in ("notStarted", "inProgress")
    assert http.get(f"/teams/{team_id}").status_code == 404
    time.sleep(0.06)
    op = http.get(resp.headers["location"]).json()
    assert op["status"] == "succeeded" and op["targetResourceId"] == team_id
    team = http.get(f"/teams/{team_id}").json()
    assert team["displayName"] == "Store 0042" and team["isArchived"] is False
    channels = http.get(f"/teams/{team_id}/channels").json()["value"]
    assert [c["displayName"] for c in channels] == ["General"]
    groups = http.get("/groups", params={"$filter": "resourceProvisioningOptions/Any(x:x eq 'Team')"}).json()[
        "value"
    ]
    assert [g["id"] for g in groups] == [team_id]


def test_app_only_team_creation_without_an_owner_is_a_400(
    http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    resp = http.post(
        "/teams",
        json={
            "template@odata.bind": TEMPLATE,
            "displayName": "No owner",
            "members": [member(users[0]["id"])],
        },
    )
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == "BadRequest" and "owner" in error["message"]
    assert set(error["innerError"]) >= {"date", "request-id", "client-request-id"}


def test_members_add_answers_207_with_per_user_errors_and_refuses_more_than_200(
    http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    team_id = create_team(http, "Store 1", users[0]["id"])
    values = [member(u["id"]) for u in users[1:4]] + [member("00000000-0000-0000-0000-000000000000")]
    resp = http.post(f"/teams/{team_id}/members/add", json={"values": values})
    assert resp.status_code == 207
    results = resp.json()["value"]
    assert [r["error"] is None for r in results] == [True, True, True, False]
    assert results[3]["error"]["code"] == "NotFound"
    assert len(http.get(f"/teams/{team_id}/members").json()["value"]) == 4
    ok = http.post(f"/teams/{team_id}/members/add", json={"values": [member(users[5]["userPrincipalName"])]})
    assert ok.status_code == 200
    too_many = http.post(f"/teams/{team_id}/members/add", json={"values": [member(users[1]["id"])] * 201})
    assert too_many.status_code == 400


def test_a_team_keeps_at_least_one_owner(http: httpx.Client, users: list[dict[str, Any]]) -> None:
    team_id = create_team(http, "Store 2", users[0]["id"])
    owner = http.get(f"/teams/{team_id}/members").json()["value"][0]
    assert (
        http.patch(
            f"/teams/{team_id}/members/{owner['id']}",
            json={"@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": []},
        ).status_code
        == 400
    )
    assert http.delete(f"/teams/{team_id}/members/{owner['id']}").status_code == 400
    second = http.post(f"/teams/{team_id}/members", json=member(users[1]["id"], owner=True))
    assert second.status_code == 201 and second.json()["roles"] == ["owner"]
    assert http.patch(f"/teams/{team_id}/members/{owner['id']}", json={"roles": []}).status_code == 200
    assert http.delete(f"/teams/{team_id}/members/{owner['id']}").status_code == 204
    assert http.delete(f"/teams/{team_id}/members/{second.json()['id']}").status_code == 400


def test_channel_names_are_unique_short_and_free_of_forbidden_characters(
    http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    team_id = create_team(http, "Store 3", users[0]["id"])
    created = http.post(
        f"/teams/{team_id}/channels", json={"displayName": "Records", "membershipType": "standard"}
    )
    assert created.status_code == 201
    dup = http.post(f"/teams/{team_id}/channels", json={"displayName": "records"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "NameAlreadyExists"
    assert http.post(f"/teams/{team_id}/channels", json={"displayName": "x" * 51}).status_code == 400
    assert http.post(f"/teams/{team_id}/channels", json={"displayName": "a/b"}).status_code == 400
    channel_id = created.json()["id"]
    assert (
        http.patch(f"/teams/{team_id}/channels/{channel_id}", json={"displayName": "Records 2"}).status_code
        == 204
    )
    assert http.get(f"/teams/{team_id}/channels/{channel_id}").json()["displayName"] == "Records 2"
    assert http.delete(f"/teams/{team_id}/channels/{channel_id}").status_code == 204


def test_archive_is_async_and_delete_is_a_restorable_soft_delete(
    http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    team_id = create_team(http, "Store 4", users[0]["id"])
    resp = http.post(f"/teams/{team_id}/archive")
    assert (
        resp.status_code == 202
        and http.get(resp.headers["location"]).json()["operationType"] == "archiveTeam"
    )
    time.sleep(0.06)
    assert http.get(f"/teams/{team_id}").json()["isArchived"] is True
    assert http.delete(f"/groups/{team_id}").status_code == 204
    assert (
        http.get(f"/groups/{team_id}").status_code == 404 and http.get(f"/teams/{team_id}").status_code == 404
    )
    assert http.get("/groups").json()["value"] == []
    assert http.post(f"/directory/deletedItems/{team_id}/restore").status_code == 200
    assert http.get(f"/teams/{team_id}").status_code == 200


def test_users_are_found_by_employee_id_upn_and_paged(
    http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    found = http.get(
        "/users", params={"$filter": "employeeId eq '000007'", "$select": "id,displayName"}
    ).json()["value"]
    assert found == [{"id": users[6]["id"], "displayName": "User 7"}]
    assert http.get("/users/user3@contoso.com").json()["id"] == users[2]["id"]
    page = http.get("/users", params={"$top": "10"}).json()
    seen = [u["id"] for u in page["value"]]
    while "@odata.nextLink" in page:
        page = http.get(page["@odata.nextLink"]).json()
        seen += [u["id"] for u in page["value"]]
    assert seen == [u["id"] for u in users]


def test_in_filters_match_case_insensitively_and_take_at_most_15_values(
    http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    upns = ", ".join(f"'USER{i}@contoso.com'" for i in range(1, 16))
    found = http.get("/users", params={"$filter": f"userPrincipalName in ({upns})", "$select": "id"}).json()
    assert sorted(u["id"] for u in found["value"]) == sorted(u["id"] for u in users[:15])
    sixteen = ", ".join(f"'user{i}@contoso.com'" for i in range(1, 17))
    refused = http.get("/users", params={"$filter": f"userPrincipalName in ({sixteen})"})
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "Request_UnsupportedQuery" and error["message"].endswith(": 16. Max allowed: 15.")


def test_requests_without_the_token_are_401(graph: GraphSandbox) -> None:
    resp = httpx.get(f"{graph.base_url}/users")
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "InvalidAuthenticationToken"
    bad = httpx.get(f"{graph.base_url}/users", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_counters_count_requests_by_route_template_and_status(
    graph: GraphSandbox, http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    team_id = create_team(http, "Store 5", users[0]["id"])
    graph.reset_counters()
    http.post(f"/teams/{team_id}/members/add", json={"values": [member(users[1]["id"])]})
    http.post(f"/teams/{team_id}/members/add", json={"values": [member("unknown")]})
    http.get(f"/users/{users[2]['id']}")
    counters = graph.counters()
    assert counters["requests"]["POST /teams/{id}/members/add"] == {"200": 1, "207": 1}
    assert counters["requests"]["GET /users/{id}"] == {"200": 1}


def test_the_tenant_survives_a_restart(tmp_path: Any) -> None:
    from local.graph.testing import running_graph_sandbox

    db = tmp_path / "tenant.sqlite"
    with running_graph_sandbox(db, scale=0.05) as graph:
        owner = graph.seed_users([{"userPrincipalName": "ann@contoso.com"}])[0]
        with httpx.Client(base_url=graph.base_url, headers=graph.auth_headers) as http:
            team_id = create_team(http, "Persistent", owner["id"])
    with running_graph_sandbox(db, scale=0.05) as graph:
        with httpx.Client(base_url=graph.base_url, headers=graph.auth_headers) as http:
            assert http.get(f"/teams/{team_id}").json()["displayName"] == "Persistent"
            assert http.get(f"/teams/{team_id}/members").json()["value"][0]["userId"] == owner["id"]


def test_replication_lag_hides_new_teams_and_members_for_a_while(tmp_path: Any) -> None:
    from local.graph.testing import running_graph_sandbox

    with running_graph_sandbox(
        tmp_path / "lag.sqlite", scale=0.1, async_delay=0.0, lag=1.0, throttle=False
    ) as graph:
        a, b = graph.seed_users(
            [{"userPrincipalName": "a@contoso.com"}, {"userPrincipalName": "b@contoso.com"}]
        )
        with httpx.Client(base_url=graph.base_url, headers=graph.auth_headers) as http:
            team_id = create_team(http, "Laggy", a["id"], wait=False)
            assert http.get(f"/teams/{team_id}").status_code == 404
            assert http.get(f"/groups/{team_id}").status_code == 404
            time.sleep(0.12)
            assert http.get(f"/teams/{team_id}").status_code == 200
            http.post(f"/teams/{team_id}/members", json=member(b["id"]))
            assert len(http.get(f"/teams/{team_id}/members").json()["value"]) == 1
            time.sleep(0.12)
            assert len(http.get(f"/teams/{team_id}/members").json()["value"]) == 2

"""Team tags in the Graph sandbox (local/graph/tags.py) as Graph documents them, and the app's
gateway reading and writing them."""

from __future__ import annotations

from typing import Any

import httpx

from .conftest import create_team


def _team_with(http: httpx.Client, users: list[dict[str, Any]], n: int) -> str:
    team_id = create_team(http, "Store 0042", users[0]["id"])
    body = {"values": [{"@odata.type": "microsoft.graph.aadUserConversationMember", "roles": [],
                        "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{u['id']}')"}
                       for u in users[1:n]]}  # fmt: skip
    assert http.post(f"/teams/{team_id}/members/add", json=body).status_code in (200, 207)
    return team_id


def test_a_tag_is_created_with_members_listed_and_deleted(
    http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    team_id = _team_with(http, users, 5)
    body = {"displayName": "Shift leads", "members": [{"userId": users[1]["id"]}]}
    resp = http.post(f"/teams/{team_id}/tags", json=body)
    assert resp.status_code == 201
    tag = resp.json()
    assert (tag["displayName"], tag["memberCount"], tag["tagType"], tag["teamId"]) == (
        "Shift leads",
        1,
        "standard",
        team_id,
    )
    assert (
        http.post(f"/teams/{team_id}/tags/{tag['id']}/members", json={"userId": users[2]["id"]}).status_code
        == 201
    )
    members = http.get(f"/teams/{team_id}/tags/{tag['id']}/members").json()["value"]
    assert {m["userId"] for m in members} == {users[1]["id"], users[2]["id"]}
    assert http.delete(f"/teams/{team_id}/tags/{tag['id']}/members/{members[0]['id']}").status_code == 204
    assert [t["memberCount"] for t in http.get(f"/teams/{team_id}/tags").json()["value"]] == [1]
    assert http.delete(f"/teams/{team_id}/tags/{tag['id']}").status_code == 204
    assert http.get(f"/teams/{team_id}/tags").json()["value"] == []


def test_tag_limits_are_refused(http: httpx.Client, users: list[dict[str, Any]]) -> None:
    team_id = _team_with(http, users, 24)  # users 0..23 are in the team
    url = f"/teams/{team_id}/tags"
    assert (
        http.post(url, json={"displayName": "x" * 41, "members": [{"userId": users[1]["id"]}]}).status_code
        == 400
    )
    assert http.post(url, json={"displayName": "Empty", "members": []}).status_code == 400  # members required
    outsider = users[24]["id"]
    assert http.post(url, json={"displayName": "Out", "members": [{"userId": outsider}]}).status_code == 400
    too_many = [{"userId": u["id"]} for u in users[:24]] + [{"userId": users[0]["id"]}] * 2
    assert http.post(url, json={"displayName": "Big", "members": too_many}).status_code == 400  # > 25
    assert http.get(url).json()["value"] == []  # nothing half-created


async def test_the_gateway_reads_tags_with_their_members_and_writes_them(graph, users) -> None:  # type: ignore[no-untyped-def]
    from shared.graph import Gateway
    from shared.settings import GraphSettings

    with httpx.Client(base_url=graph.base_url, headers=graph.auth_headers) as http:
        team_id = _team_with(http, users, 30)
    gateway = Gateway(GraphSettings(base_url=graph.base_url, auth="static_token", static_token=graph.token))
    try:
        ids = [u["id"] for u in users[1:29]]
        tag_id = await gateway.create_tag(team_id, "Cashiers", ids)  # 28 > 25: the rest added after
        team = await gateway.get_team_state(team_id, with_tags=True)
        assert team is not None and team.tags is not None
        [tag] = team.tags
        assert (tag.tag_id, tag.name, set(tag.members)) == (tag_id, "Cashiers", set(ids))
        await gateway.remove_tag_member(team_id, tag_id, tag.members[ids[0]])
        await gateway.delete_tag(team_id, tag_id)
        after = await gateway.get_team_state(team_id, with_tags=True)
        assert after is not None and after.tags == ()
        plain = await gateway.get_team_state(team_id)
        assert plain is not None and plain.tags is None  # not read unless asked
    finally:
        await gateway.aclose()

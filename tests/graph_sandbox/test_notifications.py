"""Subscriptions: validation handshake, limits, change and lifecycle notifications to a receiver."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from local.graph.testing import GraphSandbox

from .conftest import Receiver, create_team, member


def _expiry(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def _members_subscription(receiver: Receiver, change_type: str, **extra: str) -> dict[str, Any]:
    """A subscription body to every team's members, delivered to `receiver`, 2 hours long."""
    return {
        "changeType": change_type,
        "notificationUrl": receiver.url,
        "lifecycleNotificationUrl": receiver.url,
        "resource": "/teams/getAllMembers",
        "expirationDateTime": _expiry(120),
        **extra,
    }


def test_subscription_handshake_then_membership_notifications_with_client_state(
    graph: GraphSandbox, http: httpx.Client, users: list[dict[str, Any]], receiver: Receiver
) -> None:
    team_id = create_team(http, "Store N", users[0]["id"])
    body = _members_subscription(receiver, "created,updated,deleted", clientState="secret-123")
    resp = http.post("/subscriptions", json=body)
    assert resp.status_code == 201, resp.text
    assert receiver.validations == 2  # notificationUrl and lifecycleNotificationUrl
    sub = resp.json()
    receiver.fail_next = 1  # the first delivery fails and is retried
    http.post(f"/teams/{team_id}/members/add", json={"values": [member(users[1]["id"])]})
    graph.act("remove-member", teamId=team_id, userId=users[1]["id"])
    graph.drain()
    changes = sorted(n["changeType"] for n in receiver.received)
    assert changes == ["created", "deleted"]
    note = receiver.received[0]
    assert note["clientState"] == "secret-123" and note["subscriptionId"] == sub["id"]
    assert note["resource"].startswith(f"teams('{team_id}')/members('")
    assert note["resourceData"]["@odata.type"] == "#Microsoft.Graph.aadUserConversationMember"
    assert graph.counters()["notifications"]["retried"] >= 1
    graph.lifecycle(sub["id"], "reauthorizationRequired")
    graph.drain()
    assert receiver.received[-1]["lifecycleEvent"] == "reauthorizationRequired"
    renewed = http.patch(f"/subscriptions/{sub['id']}", json={"expirationDateTime": _expiry(200)})
    assert renewed.status_code == 200
    assert http.delete(f"/subscriptions/{sub['id']}").status_code == 204


def test_subscriptions_are_refused_beyond_limits_for_planner_and_without_handshake(
    http: httpx.Client, receiver: Receiver
) -> None:
    base = {"changeType": "updated", "notificationUrl": receiver.url, "clientState": "s"}
    too_long = http.post(
        "/subscriptions", json={**base, "resource": "/groups", "expirationDateTime": _expiry(41760 + 60)}
    )
    assert too_long.status_code == 400 and "41760" in too_long.json()["error"]["message"]
    no_lifecycle = http.post(
        "/subscriptions",
        json={**base, "resource": "/teams/getAllChannels", "expirationDateTime": _expiry(120)},
    )
    assert (
        no_lifecycle.status_code == 400
        and "lifecycleNotificationUrl" in no_lifecycle.json()["error"]["message"]
    )
    planner = http.post(
        "/subscriptions",
        json={**base, "resource": "/planner/plans/abc/tasks", "expirationDateTime": _expiry(30)},
    )
    assert planner.status_code == 400
    unreachable = http.post(
        "/subscriptions",
        json={
            **base,
            "notificationUrl": "http://127.0.0.1:9/none",
            "resource": "/groups",
            "expirationDateTime": _expiry(30),
        },
    )
    assert unreachable.status_code == 400 and unreachable.json()["error"]["code"] == "ValidationError"
    ok = http.post(
        "/subscriptions", json={**base, "resource": "/groups", "expirationDateTime": _expiry(41000)}
    )
    assert ok.status_code == 201


def test_a_notification_url_that_is_not_https_is_refused_as_graph_refuses_it(
    http: httpx.Client, receiver: Receiver
) -> None:
    """Graph: 400 InvalidRequest "NotificationUrl scheme='http' is not supported."
    (microsoftgraph/microsoft-graph-docs#2751), before any handshake, on create and on a PATCH
    that sets the URL. http to a loopback host (the receiver here) is the sandbox's one exception."""
    base = {
        "changeType": "updated",
        "clientState": "s",
        "resource": "/groups",
        "expirationDateTime": _expiry(30),
    }
    for url, lifecycle in (
        ("http://app.example/api/graph/notifications", None),
        ("ftp://app.example/notifications", None),
        (receiver.url, "http://app.example/api/graph/lifecycle"),
    ):
        body = {
            **base,
            "notificationUrl": url,
            **({"lifecycleNotificationUrl": lifecycle} if lifecycle else {}),
        }
        refused = http.post("/subscriptions", json=body)
        scheme = (lifecycle or url).split(":")[0]
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == {
            **refused.json()["error"],
            "code": "InvalidRequest",
            "message": f"NotificationUrl scheme='{scheme}' is not supported.",
        }
    assert receiver.validations == 0  # refused before the handshake
    created = http.post("/subscriptions", json={**base, "notificationUrl": receiver.url})
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    patched = http.patch(f"/subscriptions/{sid}", json={"notificationUrl": "http://app.example/x"})
    assert patched.status_code == 400 and patched.json()["error"]["code"] == "InvalidRequest"
    assert http.get(f"/subscriptions/{sid}").json()["notificationUrl"] == receiver.url  # unchanged


def test_channel_rename_by_a_person_is_notified(
    graph: GraphSandbox, http: httpx.Client, users: list[dict[str, Any]], receiver: Receiver
) -> None:
    team_id = create_team(http, "Store C", users[0]["id"])
    channel = http.post(f"/teams/{team_id}/channels", json={"displayName": "Records"}).json()
    sub = {"changeType": "updated", "notificationUrl": receiver.url, "resource": f"/teams/{team_id}/channels",
           "expirationDateTime": _expiry(30), "clientState": "c"}  # fmt: skip
    assert http.post("/subscriptions", json=sub).status_code == 201
    graph.act("rename-channel", teamId=team_id, channelId=channel["id"], displayName="Renamed")
    deadline = time.monotonic() + 5
    while not receiver.received and time.monotonic() < deadline:
        graph.drain()
    assert receiver.received[0]["resourceData"]["id"] == channel["id"]


def test_a_subscription_written_between_changes_is_seen_by_the_next_change(
    graph: GraphSandbox, http: httpx.Client, users: list[dict[str, Any]], receiver: Receiver
) -> None:
    """The notifier keeps the subscriptions between changes (local/graph/notifier.py): one made,
    renewed or deleted after a change was published counts from the very next change."""
    team_id = create_team(http, "Store C", users[0]["id"])
    body = _members_subscription(receiver, "created")
    first = http.post("/subscriptions", json=body).json()
    http.post(f"/teams/{team_id}/members/add", json={"values": [member(users[1]["id"])]})
    graph.drain()
    assert [n["subscriptionId"] for n in receiver.received] == [first["id"]]
    assert (
        http.patch(f"/subscriptions/{first['id']}", json={"expirationDateTime": _expiry(150)}).status_code
        == 200
    )
    assert http.delete(f"/subscriptions/{first['id']}").status_code == 204
    second = http.post("/subscriptions", json={**body, "changeType": "created,deleted"}).json()
    graph.act("remove-member", teamId=team_id, userId=users[1]["id"])
    graph.drain()
    assert [(n["subscriptionId"], n["changeType"]) for n in receiver.received[1:]] == [
        (second["id"], "deleted")
    ]
    assert http.delete(f"/subscriptions/{second['id']}").status_code == 204
    http.post(f"/teams/{team_id}/members/add", json={"values": [member(users[2]["id"])]})
    graph.drain()
    assert len(receiver.received) == 2  # no subscription left: nothing sent

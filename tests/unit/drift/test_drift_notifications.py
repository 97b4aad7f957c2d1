"""Parsing Graph notification bodies, what they name, and the constant-time clientState check."""

from __future__ import annotations

import base64
import hmac
import json

import pytest

from shared.drift import notifications
from shared.drift.notifications import (
    ChangeNotification,
    InvalidPayload,
    LifecycleEvent,
    LifecycleNotification,
    ResourceKind,
    client_state_matches,
    parse_notifications,
    resource_ref,
    screen,
    user_id_of_membership,
    wire,
)

TEAM = "0f6d9c1e-1111-4d2b-9a5e-2b8c7d6e5f40"
USER = "48d31887-5fad-4d73-a9f5-3c356e68a038"
MEMBERSHIP = base64.b64encode(f"0#{TEAM}##{USER}".encode()).decode()


def change(**over: object) -> dict[str, object]:
    item: dict[str, object] = {
        "id": "n-1",
        "subscriptionId": "5a1f0c3e-0000-4000-8000-000000000001",
        "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z",
        "clientState": "secret",
        "changeType": "deleted",
        "resource": f"teams('{TEAM}')/members('{MEMBERSHIP}')",
        "tenantId": "7c2d9e4f-0000-4000-8000-00000000000a",
        "resourceData": {"@odata.type": "#Microsoft.Graph.aadUserConversationMember", "id": MEMBERSHIP},
    }
    item.update(over)
    return item


def lifecycle(event: str = "reauthorizationRequired", **over: object) -> dict[str, object]:
    item: dict[str, object] = {
        "subscriptionId": "5a1f0c3e-0000-4000-8000-000000000001",
        "clientState": "secret",
        "lifecycleEvent": event,
        "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z",
        "tenantId": "7c2d9e4f-0000-4000-8000-00000000000a",
    }
    item.update(over)
    return item


def test_a_batch_may_mix_change_and_lifecycle_notifications() -> None:
    parsed = parse_notifications(json.dumps({"value": [change(), lifecycle("missed")]}))
    assert isinstance(parsed[0], ChangeNotification) and parsed[0].change_type == "deleted"
    assert isinstance(parsed[1], LifecycleNotification) and parsed[1].lifecycle_event is LifecycleEvent.MISSED


def test_unknown_fields_from_graph_are_tolerated() -> None:
    parsed = parse_notifications(
        json.dumps({"value": [change(encryptedContent={"data": "x"})], "validationTokens": ["jwt"]})
    )
    assert len(parsed) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "invalid-json"),
        (b"\xff\xfe", "invalid-json"),
        (b"[]", "invalid-shape"),
        (b'{"value": {}}', "invalid-shape"),
        (b'{"value": [1]}', "invalid-shape"),
        (json.dumps({"value": [change(changeType="renamed")]}).encode(), "invalid-notification"),
        (json.dumps({"value": [change(resource="")]}).encode(), "invalid-notification"),
        (json.dumps({"value": [lifecycle("somethingElse")]}).encode(), "invalid-notification"),
        (
            json.dumps({"value": [{"changeType": "created", "resource": "x"}]}).encode(),
            "invalid-notification",
        ),
    ],
)
def test_bodies_that_are_not_notifications_are_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse_notifications(body)
    assert caught.value.reason == reason


def test_client_state_is_compared_with_hmac_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(notifications.hmac, "compare_digest", spy)
    assert client_state_matches("secret", "secret") is True
    assert client_state_matches("secreT", "secret") is False
    assert calls == [(b"secret", b"secret"), (b"secreT", b"secret")]


def test_nothing_matches_an_unset_secret_or_a_missing_client_state() -> None:
    assert client_state_matches("", "") is False
    assert client_state_matches("anything", "") is False
    assert client_state_matches(None, "secret") is False
    assert client_state_matches("sécret", "sécret") is True  # non-ASCII compares as UTF-8 bytes


def test_screening_drops_only_the_mismatched_notifications() -> None:
    parsed = parse_notifications(
        json.dumps({"value": [change(), change(clientState="forged"), change(clientState=None), lifecycle()]})
    )
    screened = screen(parsed, "secret")
    assert screened.dropped == 2 and len(screened.accepted) == 2


def test_the_queued_form_never_carries_the_client_state() -> None:
    data = wire(parse_notifications(json.dumps({"value": [change()]}))[0])
    assert (
        "clientState" not in data
        and data["changeType"] == "deleted"
        and data["subscriptionId"] == "5a1f0c3e-0000-4000-8000-000000000001"
    )


@pytest.mark.parametrize(
    ("resource", "kind", "item"),
    [
        (f"teams('{TEAM}')/members('{MEMBERSHIP}')", ResourceKind.MEMBER, MEMBERSHIP),
        (f"/teams('{TEAM}')/channels('19:abc@thread.tacv2')", ResourceKind.CHANNEL, "19:abc@thread.tacv2"),
        (f"teams/{TEAM}/members/{MEMBERSHIP}", ResourceKind.MEMBER, MEMBERSHIP),
        (f"Teams('{TEAM}')", ResourceKind.TEAM, TEAM),
    ],
)
def test_resources_name_the_team_and_the_item(resource: str, kind: ResourceKind, item: str) -> None:
    ref = resource_ref(resource)
    assert ref is not None and ref.kind is kind and ref.team_id == TEAM and ref.item_id == item


@pytest.mark.parametrize(
    "resource", [f"Groups/{TEAM}", "users/x", "/teams/getAllMembers", "teams('x')/tags('y')"]
)
def test_other_resources_name_no_team(resource: str) -> None:
    assert resource_ref(resource) is None


def test_the_user_is_read_out_of_a_membership_id() -> None:
    assert user_id_of_membership(MEMBERSHIP) == USER
    real_looking = base64.b64encode(f"1#0#{TEAM}#19:x@thread.tacv2##{USER}".encode()).decode().rstrip("=")
    assert user_id_of_membership(real_looking) == USER


@pytest.mark.parametrize(
    "membership",
    [
        "",
        "not base64!",
        base64.b64encode(b"no separator").decode(),
        base64.b64encode(b"\xff\xfe##x").decode(),
    ],
)
def test_an_opaque_membership_id_names_no_user(membership: str) -> None:
    assert user_id_of_membership(membership) is None

"""Which subscriptions to create, renew, recreate or delete, given now, desired and existing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.subscriptions import Subscription
from shared.drift.subscriptions import (
    CLOCK_SKEW,
    Create,
    Delete,
    Recreate,
    Renew,
    SubscriptionKeeper,
    SubscriptionsNotConfigured,
    decide,
    desired_subscriptions,
)
from shared.settings import WebhookSettings

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
MARGIN = timedelta(hours=12)
URL = "https://app.example/api/graph/notifications?code=k"
SETTINGS = WebhookSettings(notification_url=URL, client_state="secret")
DESIRED = desired_subscriptions(SETTINGS)


def sub(sid: str, resource: str, expires_in: timedelta, **over: str) -> Subscription:
    data = {
        "subscription_id": sid,
        "resource": resource,
        "change_type": "created,updated,deleted",
        "notification_url": URL,
        "lifecycle_notification_url": URL,
        "expiration": NOW + expires_in,
    }
    data.update(over)
    return Subscription.model_validate(data)


def test_desired_are_tenant_wide_members_and_channels_at_the_longest_lifetime() -> None:
    assert [(d.resource, d.change_type) for d in DESIRED] == [
        ("/teams/getAllMembers", "created,updated,deleted"),
        ("/teams/getAllChannels", "created,updated,deleted"),
    ]
    assert all(d.expiration(NOW) == NOW + timedelta(minutes=4320) - CLOCK_SKEW for d in DESIRED)
    assert all(d.lifecycle_notification_url == URL for d in DESIRED)  # defaults to the notification URL


def test_a_separate_lifecycle_url_is_used_when_configured() -> None:
    desired = desired_subscriptions(SETTINGS.model_copy(update={"lifecycle_notification_url": URL + "&l=1"}))
    assert {d.lifecycle_notification_url for d in desired} == {URL + "&l=1"}


def test_nothing_there_creates_both() -> None:
    assert decide(NOW, DESIRED, [], MARGIN) == [Create(DESIRED[0]), Create(DESIRED[1])]


def test_fresh_subscriptions_are_left_alone_whatever_the_case_of_the_resource() -> None:
    existing = [
        sub("a", "/teams/getallmembers", timedelta(days=2)),
        sub("b", "teams/getAllChannels", timedelta(days=2)),
    ]
    assert decide(NOW, DESIRED, existing, MARGIN) == []


def test_within_the_margin_it_renews() -> None:
    existing = [
        sub("a", "/teams/getAllMembers", timedelta(hours=11)),
        sub("b", "/teams/getAllChannels", timedelta(days=2)),
    ]
    assert decide(NOW, DESIRED, existing, MARGIN) == [Renew("a", DESIRED[0])]


def test_an_expired_one_is_recreated() -> None:
    existing = [
        sub("a", "/teams/getAllMembers", timedelta(seconds=-1)),
        sub("b", "/teams/getAllChannels", timedelta(days=2)),
    ]
    assert decide(NOW, DESIRED, existing, MARGIN) == [Recreate("a", DESIRED[0], "expired")]


def test_a_changed_url_or_change_type_recreates_because_graph_cannot_add_a_lifecycle_url_later() -> None:
    existing = [
        sub("a", "/teams/getAllMembers", timedelta(days=2), notification_url="https://old/api?code=x"),
        sub("b", "/teams/getAllChannels", timedelta(days=2), change_type="created"),
    ]
    assert [(type(a), a.subscription_id) for a in decide(NOW, DESIRED, existing, MARGIN)] == [  # type: ignore[union-attr]
        (Recreate, "a"),
        (Recreate, "b"),
    ]
    no_lifecycle = [
        sub("a", "/teams/getAllMembers", timedelta(days=2), lifecycle_notification_url=""),
        sub("b", "/teams/getAllChannels", timedelta(days=2)),
    ]
    assert [type(a) for a in decide(NOW, DESIRED, no_lifecycle, MARGIN)] == [Recreate]


def test_duplicates_are_deleted_keeping_the_matching_longest_lived() -> None:
    existing = [
        sub("old", "/teams/getAllMembers", timedelta(hours=1)),
        sub("best", "/teams/getAllMembers", timedelta(days=2)),
        sub("elsewhere", "/teams/getAllMembers", timedelta(days=3), notification_url="https://other"),
        sub("b", "/teams/getAllChannels", timedelta(days=2)),
    ]
    actions = decide(NOW, DESIRED, existing, MARGIN)
    assert sorted(a.subscription_id for a in actions if isinstance(a, Delete)) == ["elsewhere", "old"]
    assert not [a for a in actions if not isinstance(a, Delete)]


def test_subscriptions_on_other_resources_are_not_touched() -> None:
    existing = [sub("todo", "/users/u/todo/lists/l/tasks", timedelta(minutes=5))]
    assert decide(NOW, DESIRED, existing, MARGIN) == [Create(DESIRED[0]), Create(DESIRED[1])]


def test_disabled_subscriptions_want_nothing() -> None:
    assert desired_subscriptions(SETTINGS.model_copy(update={"subscriptions_enabled": False})) == []


@pytest.mark.parametrize(
    ("notification_url", "lifecycle_url", "refused"),
    [
        (URL, "", None),
        (URL, "https://other.example/api/graph/lifecycle?code=k", None),
        ("http://127.0.0.1:7071/api/graph/notifications?code=k", "", None),  # the local stack's
        ("http://[::1]:7071/api/graph/notifications", "http://localhost:7071/x", None),
        ("http://app.example/api/graph/notifications?code=k", "", "must be https"),
        ("http://10.0.0.4/api/graph/notifications", "", "must be https"),
        (URL, "http://app.example/api/graph/lifecycle", "LIFECYCLE_NOTIFICATION_URL must be https"),
        ("", "", "set CTS_WEBHOOK__NOTIFICATION_URL to https://"),
        ("app.example/api/graph/notifications", "", "set CTS_WEBHOOK__NOTIFICATION_URL to https://"),
        ("ftp://app.example/notifications", "", "set CTS_WEBHOOK__NOTIFICATION_URL to https://"),
        ("https:///api/graph/notifications", "", "set CTS_WEBHOOK__NOTIFICATION_URL to https://"),
    ],
)
def test_the_keeper_refuses_a_url_graph_would_refuse_before_asking_graph(
    notification_url: str, lifecycle_url: str, refused: str | None
) -> None:
    """Graph takes https notification URLs only (400 "NotificationUrl scheme='http' is not
    supported."); the keeper says which setting to fix instead of failing at every subscription.
    http to a loopback host is the local stack's webhook."""
    settings = WebhookSettings(
        notification_url=notification_url, lifecycle_notification_url=lifecycle_url, client_state="secret"
    )
    keeper = SubscriptionKeeper(None, None, settings)  # type: ignore[arg-type]  # checks settings only
    if refused is None:
        keeper._check()
    else:
        with pytest.raises(SubscriptionsNotConfigured, match=refused):
            keeper._check()

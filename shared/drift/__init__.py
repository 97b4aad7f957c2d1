"""Drift made in Teams: Graph change notifications for team members and channels, turned into
team sync requests; and the subscriptions that bring them. See docs/drift.md.

    reply = answer(validation_token, body, secret)            # the webhook (pure, no I/O)
    await DriftProcessor(state, client, keeper).process(msg)  # the queue trigger
    await SubscriptionKeeper(gateway, state, settings.webhook).ensure()  # the timer
    await note_plan_changes(state, plan, team_ids)            # a sync pass, before executing
"""

from shared.drift.echoes import ECHO_TTL, echo_candidates, echo_in, note_plan_changes, own_change_keys
from shared.drift.notifications import (
    ChangeNotification,
    InvalidPayload,
    LifecycleEvent,
    LifecycleNotification,
    ResourceKind,
    ResourceRef,
    client_state_matches,
    parse_notifications,
    resource_ref,
    screen,
    user_id_of_membership,
)
from shared.drift.processing import BadNotificationMessage, DriftProcessor, Outcome, read_message
from shared.drift.subscriptions import (
    Create,
    Delete,
    DesiredSubscription,
    KeeperReport,
    Recreate,
    Renew,
    SubscriptionKeeper,
    SubscriptionsNotConfigured,
    decide,
    desired_subscriptions,
)
from shared.drift.webhook import QUEUE, WebhookReply, answer

__all__ = [
    "ECHO_TTL",
    "QUEUE",
    "BadNotificationMessage",
    "ChangeNotification",
    "Create",
    "Delete",
    "DesiredSubscription",
    "DriftProcessor",
    "InvalidPayload",
    "KeeperReport",
    "LifecycleEvent",
    "LifecycleNotification",
    "Outcome",
    "Recreate",
    "Renew",
    "ResourceKind",
    "ResourceRef",
    "SubscriptionKeeper",
    "SubscriptionsNotConfigured",
    "WebhookReply",
    "answer",
    "client_state_matches",
    "decide",
    "desired_subscriptions",
    "echo_candidates",
    "echo_in",
    "note_plan_changes",
    "own_change_keys",
    "parse_notifications",
    "read_message",
    "resource_ref",
    "screen",
    "user_id_of_membership",
]

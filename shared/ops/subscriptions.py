"""Graph change-notification subscriptions for operators: list with expiry and the keeper's next
action, renew now, recreate. The lifecycle rules are `shared.drift.subscriptions` (decide, then
act); this module only shapes them for `cts subscriptions` and the ops function.

They run inside the app (functions/ops.py): the app holds the Graph credential and the webhook's
clientState, which an operator's shell should not need.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.subscriptions import Subscription
from shared.drift import subscription_records
from shared.drift.subscriptions import (
    Create,
    Delete,
    Recreate,
    Renew,
    SubscriptionGateway,
    SubscriptionKeeper,
    canonical,
    decide,
    desired_subscriptions,
    todo_resources,
)
from shared.graph.errors import NotFound
from shared.settings import WebhookSettings
from shared.state import StateStore


def _url(url: str | None) -> str | None:
    """A notification URL without its query: `?code=` is a function key."""
    return None if url is None else url.split("?", 1)[0]


def subscription_rows(
    existing: Sequence[Subscription],
    settings: WebhookSettings,
    now: datetime | None = None,
    extra_resources: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Every subscription Graph lists, with minutes left and what the keeper would do next; plus
    one row per desired subscription that is missing. `extra_resources`: the To Do lists in use
    (`todo_resources(state)`)."""
    now = now or datetime.now(UTC)
    desired = desired_subscriptions(settings, extra_resources)
    wanted = {canonical(d.resource) for d in desired}
    actions = decide(now, desired, existing, timedelta(minutes=settings.renew_margin_minutes))
    next_action: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    for action in actions:
        if isinstance(action, Create):
            rows.append(
                {
                    "subscription_id": None,
                    "resource": action.desired.resource,
                    "change_type": action.desired.change_type,
                    "expiration": None,
                    "minutes_left": None,
                    "notification_url": _url(action.desired.notification_url),
                    "ours": True,
                    "next_action": f"create ({action.why})",
                }
            )
        elif isinstance(action, Renew | Recreate | Delete):
            next_action[action.subscription_id] = f"{type(action).__name__.lower()} ({action.why})"
    for sub in sorted(existing, key=lambda s: (canonical(s.resource), s.expiration)):
        ours = canonical(sub.resource) in wanted
        rows.append(
            {
                "subscription_id": sub.subscription_id,
                "resource": sub.resource,
                "change_type": sub.change_type,
                "expiration": sub.expiration.isoformat(),
                "minutes_left": int((sub.expiration - now).total_seconds() // 60),
                "notification_url": _url(sub.notification_url),
                "ours": ours,
                "next_action": next_action.get(
                    sub.subscription_id, "none" if ours else "not ours: left alone"
                ),
            }
        )
    return rows


def _targets(
    existing: Sequence[Subscription], settings: WebhookSettings, ids: Sequence[str], extra: Sequence[str]
) -> list[Subscription]:
    wanted = {canonical(d.resource) for d in desired_subscriptions(settings, extra)}
    ours = [s for s in existing if canonical(s.resource) in wanted]
    if not ids:
        return ours
    unknown = sorted(set(ids) - {s.subscription_id for s in ours})
    if unknown:
        raise LookupError(f"no subscription of this app with id {', '.join(unknown)}")
    return [s for s in ours if s.subscription_id in ids]


async def renew(
    gateway: SubscriptionGateway, state: StateStore, settings: WebhookSettings, ids: Sequence[str] = ()
) -> dict[str, Any]:
    """Renew the app's subscriptions (or the given ids) to the longest lifetime now; a renewal
    answered 404 recreates (the keeper's rule)."""
    keeper = SubscriptionKeeper(gateway, state, settings)
    now = datetime.now(UTC)
    extra = await todo_resources(state)
    desired = {canonical(d.resource): d for d in desired_subscriptions(settings, extra)}
    done: list[dict[str, Any]] = []
    for sub in _targets(await gateway.list_subscriptions(), settings, ids, extra):
        renewed = await keeper.renew(sub.subscription_id, desired[canonical(sub.resource)], now)
        done.append(
            {
                "subscription_id": sub.subscription_id,
                "resource": sub.resource,
                "now_id": renewed.subscription_id,
                "expiration": renewed.expiration.isoformat(),
            }
        )
    return {"renewed": done}


async def recreate(
    gateway: SubscriptionGateway,
    state: StateStore,
    settings: WebhookSettings,
    ids: Sequence[str] = (),
    *,
    dry_run: bool = True,
) -> dict[str, Any]:
    """Delete the app's subscriptions (or the given ids), then let the keeper create what is
    missing: new ids, current URLs and clientState. A dry run lists what would be deleted."""
    targets = _targets(await gateway.list_subscriptions(), settings, ids, await todo_resources(state))
    deleted = [s.subscription_id for s in targets]
    if dry_run:
        return {"dry_run": True, "would_delete": deleted, "then": "create the missing subscriptions"}
    for sub in targets:
        try:
            await gateway.delete_subscription(sub.subscription_id)
        except NotFound:
            pass
        await subscription_records.delete_subscription(state, sub.subscription_id)
    report = await SubscriptionKeeper(gateway, state, settings).ensure()
    return {**report.as_dict(), "dry_run": False, "deleted": deleted + report.deleted}

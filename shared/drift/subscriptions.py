"""Keeping the Graph change-notification subscriptions for drift alive: decide, then act.

Desired: one tenant-wide subscription per watched resource (`/teams/getAllMembers`,
`/teams/getAllChannels`; created, updated, deleted), pointing at the configured notification and
lifecycle URLs, always at the longest lifetime Graph allows for the resource.

`decide` (pure) compares desired with what Graph lists (the state store may be lost, so Graph's
list is the truth) and yields actions: create what is missing, renew what expires within the
margin, recreate what is expired or points elsewhere (a lifecycle URL cannot be added later,
https://learn.microsoft.com/graph/api/resources/subscription), delete duplicates. `SubscriptionKeeper`
executes them through the gateway and records the result; a renewal answered 404 recreates.

Lifetimes (https://learn.microsoft.com/graph/change-notifications-overview, subscription-lifetime):
conversationMember and channel: 4,320 minutes (3 days). Teams resources need a
lifecycleNotificationUrl when expiring more than 1 hour ahead
(https://learn.microsoft.com/graph/teams-changenotifications-teammembership).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

from shared import telemetry
from shared.domain.subscriptions import Subscription
from shared.drift import subscription_records
from shared.graph.errors import NotFound
from shared.settings import WebhookSettings
from shared.state import StateStore

log = logging.getLogger("cts.drift.subscriptions")

CHANGE_TYPES = "created,updated,deleted"
# Maximum lifetimes in minutes, by resource (source: module doc).
MAX_LIFETIME_MINUTES = {"/teams/getallmembers": 4320, "/teams/getallchannels": 4320}
WATCHED = ("/teams/getAllMembers", "/teams/getAllChannels")
# To Do mode: one subscription per worker list; todoTask lives at most 4,230 minutes
# (https://learn.microsoft.com/graph/change-notifications-overview, subscription-lifetime).
TODO_MAX_LIFETIME_MINUTES = 4230
# Ask for a little less than the maximum: Graph compares with its own clock.
CLOCK_SKEW = timedelta(minutes=5)


def canonical(resource: str) -> str:
    return "/" + resource.strip().strip("/").lower()


@dataclass(frozen=True)
class DesiredSubscription:
    resource: str
    change_type: str
    notification_url: str
    lifecycle_notification_url: str
    max_lifetime: timedelta

    def expiration(self, now: datetime) -> datetime:
        return now + self.max_lifetime - CLOCK_SKEW

    def matches(self, sub: Subscription) -> bool:
        """Same target and change types (the expiry aside)."""
        return (
            sub.notification_url == self.notification_url
            and (sub.lifecycle_notification_url or "") == self.lifecycle_notification_url
            and set(sub.change_type.split(",")) == set(self.change_type.split(","))
        )


def todo_resource(user_id: str, list_id: str) -> str:
    return f"/users/{user_id}/todo/lists/{list_id}/tasks"


async def todo_resources(state: StateStore) -> list[str]:
    """To Do mode: the resource of every worker list in use (state partition `todolist`)."""
    lists = await state.list_values("todolist")
    return [todo_resource(user, str(v["list_id"])) for user, v in sorted(lists.items()) if v.get("list_id")]


def _lifetime(resource: str) -> timedelta:
    minutes = MAX_LIFETIME_MINUTES.get(canonical(resource))
    return timedelta(minutes=minutes if minutes is not None else TODO_MAX_LIFETIME_MINUTES)


def desired_subscriptions(
    settings: WebhookSettings, extra_resources: Sequence[str] = ()
) -> list[DesiredSubscription]:
    """The drift subscriptions, plus `extra_resources` (the To Do lists of To Do mode)."""
    if not settings.subscriptions_enabled:
        return []
    lifecycle = settings.lifecycle_notification_url or settings.notification_url
    return [
        DesiredSubscription(
            resource=resource,
            change_type=CHANGE_TYPES,
            notification_url=settings.notification_url,
            lifecycle_notification_url=lifecycle,
            max_lifetime=_lifetime(resource),
        )
        for resource in (*WATCHED, *extra_resources)
    ]


# -- decisions ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Create:
    desired: DesiredSubscription
    why: str = "missing"


@dataclass(frozen=True)
class Renew:
    subscription_id: str
    desired: DesiredSubscription
    why: str = "expires soon"


@dataclass(frozen=True)
class Recreate:
    subscription_id: str
    desired: DesiredSubscription
    why: str


@dataclass(frozen=True)
class Delete:
    subscription_id: str
    why: str = "duplicate"


Action = Create | Renew | Recreate | Delete


def decide(
    now: datetime,
    desired: Sequence[DesiredSubscription],
    existing: Sequence[Subscription],
    renew_margin: timedelta,
) -> list[Action]:
    """What to do so every desired subscription exists, points where configured, and lives
    longer than `renew_margin`. Subscriptions on other resources are left alone."""
    actions: list[Action] = []
    for want in desired:
        same = [s for s in existing if canonical(s.resource) == canonical(want.resource)]
        # Prefer one that already points where we want, then the one living longest.
        same.sort(key=lambda s: (want.matches(s), s.expiration), reverse=True)
        if not same:
            actions.append(Create(want))
            continue
        keep, *extra = same
        actions += [Delete(s.subscription_id) for s in extra]
        if not want.matches(keep):
            actions.append(
                Recreate(keep.subscription_id, want, "notification URL, lifecycle URL or change types differ")
            )
        elif keep.expiration <= now:
            actions.append(Recreate(keep.subscription_id, want, "expired"))
        elif keep.expiration - now < renew_margin:
            actions.append(Renew(keep.subscription_id, want))
    return actions


# -- acting -----------------------------------------------------------------------------------
class SubscriptionGateway(Protocol):
    """The part of `shared.graph.Gateway` this module uses."""

    async def create_subscription(
        self,
        *,
        resource: str,
        change_type: str,
        notification_url: str,
        expiration: datetime,
        client_state: str,
        lifecycle_notification_url: str | None = None,
    ) -> Subscription: ...

    async def renew_subscription(self, subscription_id: str, expiration: datetime) -> Subscription: ...

    async def delete_subscription(self, subscription_id: str) -> None: ...

    async def list_subscriptions(self) -> list[Subscription]: ...


class SubscriptionsNotConfigured(RuntimeError):
    """The webhook settings cannot make a valid subscription; the message says which to set."""


def url_problem(url: str, setting: str) -> str | None:
    """Why Graph would refuse `url` as a notification URL, else None. Graph takes https only
    ("This URL must make use of the HTTPS protocol", the subscription resource; an http URL is
    refused with 400 "NotificationUrl scheme='http' is not supported.":
    microsoftgraph/microsoft-graph-docs#2751). http to a loopback host is let through: the local
    stack's webhook, which the Graph sandbox reaches without a certificate."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return f"{setting} is not a URL"
    scheme = parts.scheme.lower()
    if scheme == "https" and host:
        return None
    if scheme == "http" and host:
        if host == "localhost":
            return None
        try:
            if ipaddress.ip_address(host).is_loopback:
                return None
        except ValueError:
            pass
        return f"{setting} must be https: Graph refuses http (NotificationUrl scheme='http' is not supported)"
    return f"set {setting} to https://<app>.azurewebsites.net/api/graph/notifications?code=<function key>"


@dataclass
class KeeperReport:
    created: list[str] = field(default_factory=list)
    renewed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "created": self.created,
            "renewed": self.renewed,
            "deleted": self.deleted,
            "failed": self.failed,
        }


class SubscriptionKeeper:
    def __init__(self, gateway: SubscriptionGateway, state: StateStore, settings: WebhookSettings) -> None:
        self.gateway = gateway
        self.state = state
        self.settings = settings

    def _check(self) -> None:
        if not self.settings.client_state:
            raise SubscriptionsNotConfigured(
                "set CTS_WEBHOOK__CLIENT_STATE (a random secret, at most 128 chars)"
            )
        problem = url_problem(self.settings.notification_url, "CTS_WEBHOOK__NOTIFICATION_URL")
        if not problem and self.settings.lifecycle_notification_url:  # empty: the notification URL
            problem = url_problem(
                self.settings.lifecycle_notification_url, "CTS_WEBHOOK__LIFECYCLE_NOTIFICATION_URL"
            )
        if problem:
            raise SubscriptionsNotConfigured(problem)
        if "code=" not in self.settings.notification_url:
            log.warning("the notification URL has no ?code=: Graph cannot send the function key otherwise")

    async def _desired(self) -> list[DesiredSubscription]:
        """Drift's subscriptions and one per To Do list in use (state partition `todolist`)."""
        lists = await self.state.list_values("todolist")
        todo = [
            todo_resource(user, str(v["list_id"])) for user, v in sorted(lists.items()) if v.get("list_id")
        ]
        return desired_subscriptions(self.settings, todo)

    async def ensure(self, now: datetime | None = None) -> KeeperReport:
        """Create, renew, recreate and delete until the desired subscriptions hold."""
        self._check()
        now = now or datetime.now(UTC)
        existing = await self.gateway.list_subscriptions()
        margin = timedelta(minutes=self.settings.renew_margin_minutes)
        report = KeeperReport()
        for action in decide(now, await self._desired(), existing, margin):
            try:
                await self._apply(action, now, report)
            except Exception as exc:  # one failure must not stop the others; the timer retries
                target = getattr(action, "subscription_id", None) or action.desired.resource  # type: ignore[union-attr]
                report.failed.append(f"{type(action).__name__} {target}: {exc}")
                telemetry.log_event(
                    log,
                    "subscription action failed",
                    level=logging.ERROR,
                    action=type(action).__name__,
                    target=target,
                    error=str(exc),
                )
        return report

    async def _apply(self, action: Action, now: datetime, report: KeeperReport) -> None:
        if isinstance(action, Create):
            report.created.append((await self._create(action.desired, now)).subscription_id)
        elif isinstance(action, Renew):
            renewed = await self.renew(action.subscription_id, action.desired, now)
            (report.renewed if renewed.subscription_id == action.subscription_id else report.created).append(
                renewed.subscription_id
            )
        elif isinstance(action, Recreate):
            await self._delete(action.subscription_id)
            report.deleted.append(action.subscription_id)
            report.created.append((await self._create(action.desired, now)).subscription_id)
        else:
            await self._delete(action.subscription_id)
            report.deleted.append(action.subscription_id)

    async def renew(self, subscription_id: str, desired: DesiredSubscription, now: datetime) -> Subscription:
        """PATCH a new expiry; a 404 (Graph removed it) creates a replacement instead."""
        try:
            sub = await self.gateway.renew_subscription(subscription_id, desired.expiration(now))
        except NotFound:
            telemetry.log_event(
                log,
                "renewal found no subscription: recreating",
                level=logging.WARNING,
                subscription_id=subscription_id,
            )
            await subscription_records.delete_subscription(self.state, subscription_id)
            return await self._create(desired, now)
        await subscription_records.put_subscription(self.state, sub)
        return sub

    async def reauthorize(self, subscription_id: str, now: datetime | None = None) -> Subscription | None:
        """Answer `reauthorizationRequired` by renewing (a PATCH of the expiry also reauthorizes,
        https://learn.microsoft.com/graph/change-notifications-lifecycle-events). Unknown ids
        (not one of ours) are left alone."""
        now = now or datetime.now(UTC)
        desired = await self._desired_for(subscription_id)
        if desired is None:
            return None
        return await self.renew(subscription_id, desired, now)

    async def replace_removed(self, subscription_id: str) -> KeeperReport:
        """`subscriptionRemoved`: forget it, then ensure (which creates what is now missing)."""
        await subscription_records.delete_subscription(self.state, subscription_id)
        return await self.ensure()

    async def _desired_for(self, subscription_id: str) -> DesiredSubscription | None:
        known = await subscription_records.get_subscription(self.state, subscription_id)
        if known is None:
            known = next(
                (s for s in await self.gateway.list_subscriptions() if s.subscription_id == subscription_id),
                None,
            )
        if known is None:
            return None
        return next(
            (d for d in await self._desired() if canonical(d.resource) == canonical(known.resource)),
            None,
        )

    async def _create(self, desired: DesiredSubscription, now: datetime) -> Subscription:
        sub = await self.gateway.create_subscription(
            resource=desired.resource,
            change_type=desired.change_type,
            notification_url=desired.notification_url,
            lifecycle_notification_url=desired.lifecycle_notification_url,
            expiration=desired.expiration(now),
            client_state=self.settings.client_state,
        )
        await subscription_records.put_subscription(self.state, sub)
        telemetry.log_event(
            log,
            "subscription created",
            subscription_id=sub.subscription_id,
            resource=sub.resource,
            expiration=sub.expiration.isoformat(),
        )
        return sub

    async def _delete(self, subscription_id: str) -> None:
        try:
            await self.gateway.delete_subscription(subscription_id)
        except NotFound:
            pass
        await subscription_records.delete_subscription(self.state, subscription_id)

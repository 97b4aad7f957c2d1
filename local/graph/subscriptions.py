"""Change-notification subscriptions: https://learn.microsoft.com/graph/api/resources/subscription

- ``POST /subscriptions`` validates ``notificationUrl`` (and ``lifecycleNotificationUrl``) with the
  handshake before answering 201: https://learn.microsoft.com/graph/change-notifications-delivery-webhooks
- maximum lifetimes per resource: https://learn.microsoft.com/graph/change-notifications-overview
  (teams/channels/members 4,320 min; groups/users 41,760 min; todoTask 4,230 min);
- Teams resources need ``lifecycleNotificationUrl`` when expiring more than 1 h ahead:
  https://learn.microsoft.com/graph/teams-changenotifications-teammembership
- quotas → 403: 1 per app per team for Teams resources; 100 per app per tenant for groups/users.
- no Planner resources: Planner has no change notifications (absent from the overview tables).
- ``notificationUrl`` (and the lifecycle URL) must be https: "This URL must make use of the HTTPS
  protocol" (the subscription resource's properties), refused with 400 InvalidRequest
  "NotificationUrl scheme='http' is not supported." (microsoftgraph/microsoft-graph-docs#2751,
  closed "by design"), also when a PATCH sets it. The one exception here: http to a loopback host,
  the local stack's webhook, which has no certificate (Graph could not reach it at all).
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from .core import Router, Sandbox
from .errors import GraphError
from .notifier import canonical_resource
from .planner import APP_ID
from .wire import Req, Resp, collection, entity

TEAMS_MAX_MIN = 4320
DIRECTORY_MAX_MIN = 41760
TODO_MAX_MIN = 4230
GROUP_QUOTA = 100
_GUID = r"[^/]+"
# canonical (lower-case, normalised) resource pattern -> (max minutes, family)
RESOURCES: list[tuple[re.Pattern[str], int, str]] = [
    (re.compile(p), minutes, family)
    for p, minutes, family in (
        (r"/teams/getallmembers", TEAMS_MAX_MIN, "teams-org"),
        (r"/teams/getallchannels", TEAMS_MAX_MIN, "teams-org"),
        (rf"/teams/{_GUID}/members", TEAMS_MAX_MIN, "teams-team"),
        (rf"/teams/{_GUID}/channels", TEAMS_MAX_MIN, "teams-team"),
        (r"/teams", TEAMS_MAX_MIN, "teams-org"),
        (rf"/teams/{_GUID}", TEAMS_MAX_MIN, "teams-team"),
        (r"/groups", DIRECTORY_MAX_MIN, "directory"),
        (rf"/groups/{_GUID}(/members|/owners)?", DIRECTORY_MAX_MIN, "directory"),
        (r"/users", DIRECTORY_MAX_MIN, "directory"),
        (rf"/users/{_GUID}", DIRECTORY_MAX_MIN, "directory"),
        (rf"/(me|users/{_GUID})/todo/lists/{_GUID}/tasks", TODO_MAX_MIN, "todo"),
    )
]
CHANGE_TYPES = {"created", "updated", "deleted"}


def _invalid(message: str) -> GraphError:
    return GraphError(400, "InvalidRequest", message)


def _resource_rule(resource: str) -> tuple[int, str]:
    canon = canonical_resource(resource)
    for pattern, minutes, family in RESOURCES:
        if pattern.fullmatch(canon):
            return minutes, family
    raise _invalid(f"Resource '{resource}' is not supported for change notifications.")


def _expiry(sb: Sandbox, value: Any, max_minutes: int, teams: bool, lifecycle_url: str | None) -> datetime:
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise _invalid("expirationDateTime is not a valid date.") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    minutes = (when - datetime.now(UTC)).total_seconds() / 60
    if minutes <= 0:
        raise _invalid("Subscription expiration must be in the future.")
    if minutes > max_minutes + 1:
        raise _invalid(f"Subscription expiration can only be {max_minutes} minutes in the future.")
    if teams and minutes > 60 and not lifecycle_url:
        raise _invalid(
            "lifecycleNotificationUrl is a required property for subscription creation on this resource "
            "when the expirationDateTime value is set to greater than 1 hour."
        )
    return when


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_scheme(url: object) -> None:
    """Graph's refusal of a notification URL that is not https (module docstring); http to a
    loopback host passes (the local stack's webhook)."""
    try:
        parts = urlsplit(str(url))
        host = parts.hostname
    except ValueError:
        parts, host = urlsplit(""), None
    if parts.scheme.lower() == "https" or (parts.scheme.lower() == "http" and _loopback(host)):
        return
    raise _invalid(f"NotificationUrl scheme='{parts.scheme}' is not supported.")


async def create_subscription(sb: Sandbox, req: Req) -> Resp:
    body = req.json_body()
    for field in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
        if not body.get(field):
            raise _invalid(f"{field} is a required property for subscription creation.")
    for url in filter(None, (body["notificationUrl"], body.get("lifecycleNotificationUrl"))):
        _check_scheme(url)
    change_types = set(str(body["changeType"]).split(","))
    if not change_types <= CHANGE_TYPES:
        raise _invalid(f"Invalid changeType '{body['changeType']}'.")
    client_state = body.get("clientState")
    if client_state is not None and len(str(client_state)) > 128:
        raise _invalid("clientState must be at most 128 characters.")
    max_minutes, family = _resource_rule(body["resource"])
    lifecycle_url = body.get("lifecycleNotificationUrl")
    when = _expiry(sb, body["expirationDateTime"], max_minutes, family.startswith("teams"), lifecycle_url)
    existing = [s for _, s in sb.store.query("subscription")]
    canon = canonical_resource(body["resource"])
    if family == "teams-team" and any(canonical_resource(s["resource"]) == canon for s in existing):
        raise GraphError(
            403,
            "ExtensionError",
            f"A subscription for '{body['resource']}' already exists for this application "
            "(at most 1 per app per team).",
        )
    if (
        family == "directory"
        and sum(1 for s in existing if _resource_rule(s["resource"])[1] == "directory") >= GROUP_QUOTA
    ):
        raise GraphError(
            403,
            "ExtensionError",
            f"Subscription quota exceeded: at most {GROUP_QUOTA} directory subscriptions per app per tenant.",
        )
    assert sb.notifier is not None
    for url in filter(None, (body["notificationUrl"], lifecycle_url)):
        problem = await sb.notifier.validate(url)
        if problem:
            raise GraphError(400, "ValidationError", problem)
    sub = {
        "id": str(uuid.uuid4()),
        "resource": body["resource"],
        "applicationId": APP_ID,
        "changeType": body["changeType"],
        "clientState": client_state,
        "notificationUrl": body["notificationUrl"],
        "notificationQueryOptions": None,
        "lifecycleNotificationUrl": lifecycle_url,
        "expirationDateTime": _iso(when),
        "creatorId": APP_ID,
        "includeResourceData": bool(body.get("includeResourceData", False)),
        "latestSupportedTlsVersion": body.get("latestSupportedTlsVersion") or "v1_2",
        "encryptionCertificate": body.get("encryptionCertificate"),
        "encryptionCertificateId": body.get("encryptionCertificateId"),
        "notificationUrlAppId": None,
        "_expiresAt": when.timestamp(),
    }
    sb.store.put("subscription", sub)
    return entity(req, "subscriptions", sub, status=201)


def _sub_or_404(sb: Sandbox, ident: str) -> dict[str, Any]:
    sub = sb.store.get("subscription", ident)
    if sub is None:
        raise GraphError(404, "ResourceNotFound", f"The object was not found.: Subscription '{ident}'")
    return sub


async def list_subscriptions(sb: Sandbox, req: Req) -> Resp:
    return collection(req, "subscriptions", sb.store.query("subscription"), 10_000)


async def get_subscription(sb: Sandbox, req: Req) -> Resp:
    return entity(req, "subscriptions", _sub_or_404(sb, req.params["id"]))


async def renew_subscription(sb: Sandbox, req: Req) -> Resp:
    sub = _sub_or_404(sb, req.params["id"])
    body = req.json_body()
    if "notificationUrl" in body:
        _check_scheme(body["notificationUrl"])
    if "expirationDateTime" in body:
        max_minutes, family = _resource_rule(sub["resource"])
        when = _expiry(
            sb,
            body["expirationDateTime"],
            max_minutes,
            family.startswith("teams"),
            sub["lifecycleNotificationUrl"],
        )
        sub["expirationDateTime"], sub["_expiresAt"] = _iso(when), when.timestamp()
    if "notificationUrl" in body:
        sub["notificationUrl"] = body["notificationUrl"]
    sb.store.put("subscription", sub)
    return entity(req, "subscriptions", sub)


async def delete_subscription(sb: Sandbox, req: Req) -> Resp:
    sb.store.remove("subscription", _sub_or_404(sb, req.params["id"])["id"])
    return Resp(204)


async def reauthorize(sb: Sandbox, req: Req) -> Resp:
    _sub_or_404(sb, req.params["id"])
    return Resp(204)


def register(router: Router) -> None:
    router.add("POST", "/subscriptions", create_subscription)
    router.add("GET", "/subscriptions", list_subscriptions)
    router.add("GET", "/subscriptions/{id}", get_subscription)
    router.add("PATCH", "/subscriptions/{id}", renew_subscription)
    router.add("DELETE", "/subscriptions/{id}", delete_subscription)
    router.add("POST", "/subscriptions/{id}/reauthorize", reauthorize)

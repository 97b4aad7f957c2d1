"""Graph change and lifecycle notifications: parsing, the clientState check, and what they name.

Payload shapes: https://learn.microsoft.com/graph/api/resources/changenotification and
https://learn.microsoft.com/graph/change-notifications-lifecycle-events (a lifecycle notification
carries `lifecycleEvent` in place of `changeType`). One POST may batch notifications of several
subscriptions, so everything here works per notification. Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.domain.ids import GraphGuid, is_graph_guid

MAX_CLIENT_STATE = 128
"""Graph's limit for clientState (https://learn.microsoft.com/graph/api/resources/subscription)."""
MAX_RESOURCE = 2048
"""A notification's `resource` path; Graph's are ~200 characters. Longer ones are not Graph's."""


class InvalidPayload(ValueError):
    """A POST body (or queued message) that is not a notification collection; `reason` is a code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class _Wire(BaseModel):
    # Graph adds fields over time (encryptedContent, validationTokens...): keep what we know.
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class ChangeNotification(_Wire):
    """One change notification: the validation model of the webhook's edge. Ids Graph sends as
    GUIDs (subscription, tenant) must be GUIDs; strings are bounded."""

    id: str | None = Field(default=None, max_length=256)
    subscription_id: GraphGuid = Field(alias="subscriptionId")
    subscription_expiration: datetime | None = Field(default=None, alias="subscriptionExpirationDateTime")
    client_state: str | None = Field(default=None, alias="clientState", max_length=MAX_CLIENT_STATE)
    change_type: Literal["created", "updated", "deleted"] = Field(alias="changeType")
    resource: str = Field(min_length=1, max_length=MAX_RESOURCE)
    tenant_id: GraphGuid | None = Field(default=None, alias="tenantId")
    resource_data: dict[str, Any] | None = Field(default=None, alias="resourceData")


class LifecycleEvent(StrEnum):
    REAUTHORIZATION_REQUIRED = "reauthorizationRequired"
    SUBSCRIPTION_REMOVED = "subscriptionRemoved"
    MISSED = "missed"


class LifecycleNotification(_Wire):
    subscription_id: GraphGuid = Field(alias="subscriptionId")
    subscription_expiration: datetime | None = Field(default=None, alias="subscriptionExpirationDateTime")
    client_state: str | None = Field(default=None, alias="clientState", max_length=MAX_CLIENT_STATE)
    lifecycle_event: LifecycleEvent = Field(alias="lifecycleEvent")
    tenant_id: GraphGuid | None = Field(default=None, alias="tenantId")


Notification = ChangeNotification | LifecycleNotification


def _items(body: bytes | str) -> list[Any]:
    """The `value` array of one POST body; InvalidPayload if the body is not such an object.
    Never raises anything else: deep nesting (RecursionError) and bad UTF-8 are invalid JSON."""
    try:
        document = json.loads(body)
    except RecursionError:
        raise InvalidPayload("invalid-json", "the body nests too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidPayload("invalid-json", f"the body is not JSON ({type(exc).__name__})") from None
    if not isinstance(document, dict) or not isinstance(document.get("value"), list):
        raise InvalidPayload("invalid-shape", 'expected an object with a "value" array')
    items: list[Any] = document["value"]
    return items


def parse_notifications(body: bytes | str) -> list[Notification]:
    """All notifications of one POST body (`{"value": [...]}`); InvalidPayload if the body, or any
    item, is not one. The webhook uses the tolerant `screen_body` instead."""
    return [parse_notification(item, index) for index, item in enumerate(_items(body))]


def parse_notification(item: Any, index: int = 0) -> Notification:
    if not isinstance(item, dict):
        raise InvalidPayload("invalid-shape", f"value[{index}] is not an object")
    model: type[ChangeNotification] | type[LifecycleNotification] = (
        LifecycleNotification if "lifecycleEvent" in item else ChangeNotification
    )
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "(root)" for e in exc.errors())
        raise InvalidPayload("invalid-notification", f"value[{index}]: bad or missing {fields}") from None


# -- clientState -------------------------------------------------------------------------------
def client_state_matches(presented: object, secret: str) -> bool:
    """Constant-time comparison (hmac.compare_digest), so timing reveals nothing of the secret.
    An empty configured secret matches nothing: the app refuses notifications until it is set.
    Anything but a string (or a string with a lone surrogate, which JSON allows) never matches."""
    if not secret or not isinstance(presented, str):
        return False
    given = presented.encode("utf-8", "surrogatepass")  # never raises; a surrogate cannot match
    return hmac.compare_digest(given, secret.encode("utf-8"))


@dataclass(frozen=True)
class Screened:
    accepted: tuple[Notification, ...]
    dropped: int
    reasons: dict[str, int] = field(default_factory=dict)  # why each dropped one was dropped
    # `wire(n)` of each accepted one, as JSON text (screen_body made it to check it can be queued)
    wired: tuple[str, ...] = ()


def screen(notifications: Sequence[Notification], secret: str) -> Screened:
    """Keep the notifications whose clientState matches; count the others (dropped one by one:
    a batch may mix subscriptions, https://learn.microsoft.com/graph/change-notifications-delivery-webhooks)."""
    accepted = tuple(n for n in notifications if client_state_matches(n.client_state, secret))
    return Screened(accepted=accepted, dropped=len(notifications) - len(accepted))


def screen_body(body: bytes | str, secret: str, *, tenant_id: str = "") -> Screened:
    """The webhook's edge: the clientState of each item first (constant time), then its shape,
    then its tenant. Each item stands alone: one bad or forged item drops only itself (a POST may
    batch several subscriptions' notifications). Raises InvalidPayload only when the body is not
    a notification collection at all; never anything else, whatever the bytes."""
    accepted: list[Notification] = []
    wired: list[str] = []
    reasons: Counter[str] = Counter()
    expected_tenant = tenant_id.lower() if is_graph_guid(tenant_id) else None
    for index, item in enumerate(_items(body)):
        if not isinstance(item, dict) or not client_state_matches(item.get("clientState"), secret):
            reasons["client-state-not-configured" if not secret else "client-state-mismatch"] += 1
            continue
        try:
            notification = parse_notification(item, index)
        except InvalidPayload as exc:
            reasons[exc.reason] += 1
            continue
        if expected_tenant is not None and (notification.tenant_id or "").lower() != expected_tenant:
            reasons["other-tenant"] += 1
            continue
        try:
            # as it will be queued: a lone surrogate deep in resourceData cannot be (tests/fuzz)
            text = json.dumps(wire(notification), separators=(",", ":"))
            text.encode("utf-8")
        except (UnicodeError, ValueError):
            reasons["invalid-notification"] += 1
            continue
        accepted.append(notification)
        wired.append(text)
    return Screened(
        accepted=tuple(accepted), dropped=sum(reasons.values()), reasons=dict(reasons), wired=tuple(wired)
    )


def wire(notification: Notification) -> dict[str, Any]:
    """The notification as Graph spelled it, without clientState: the secret never goes to the
    queue (or its dead-letter queue)."""
    data = notification.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"client_state"})
    return data


# -- what a notification names -------------------------------------------------------------------
class ResourceKind(StrEnum):
    MEMBER = "member"
    CHANNEL = "channel"
    TEAM = "team"


@dataclass(frozen=True)
class ResourceRef:
    kind: ResourceKind
    team_id: str
    item_id: str  # membership id, channel id, or the team id for a team


# Graph names the changed item as `teams('{team}')/members('{membership}')` or
# `teams('{team}')/channels('{channel}')` for /teams/getAllMembers and /teams/getAllChannels
# (https://learn.microsoft.com/graph/teams-changenotifications-teammembership); the slash form is
# accepted too.
_QUOTED = re.compile(r"/?teams\('([^']+)'\)(?:/(members|channels)\('([^']+)'\))?", re.IGNORECASE)
_SLASHED = re.compile(r"/?teams/([^/('?]+)(?:/(members|channels)/([^/?]+))?/?", re.IGNORECASE)


def resource_ref(resource: str) -> ResourceRef | None:
    """What a notification's `resource` names, or None for anything else (e.g. a group)."""
    for pattern in (_QUOTED, _SLASHED):
        found = pattern.fullmatch(resource.strip())
        if found is None:
            continue
        team, collection, item = found.groups()
        if team.lower() in ("getallmembers", "getallchannels"):
            return None
        if collection is None:
            return ResourceRef(ResourceKind.TEAM, team, team)
        kind = ResourceKind.MEMBER if collection.lower() == "members" else ResourceKind.CHANNEL
        return ResourceRef(kind, team, item)
    return None


_TODO = re.compile(r"/?users/([^/]+)/todo/lists/([^/]+)/tasks/([^/?]+)/?", re.IGNORECASE)


def todo_task_of(resource: str) -> str | None:
    """The To Do task id a `todoTask` notification names (`users/{u}/todo/lists/{l}/tasks/{t}`,
    also in the `users('u')/…` key syntax), or None."""
    plain = re.sub(r"\('([^']*)'\)", lambda m: "/" + m[1], resource.strip())
    found = _TODO.fullmatch(plain)
    return found.group(3) if found else None


def user_id_of_membership(membership_id: str) -> str | None:
    """The Entra user id inside a Teams membership id, or None.

    Teams membership ids are base64 of `...##{teamId or thread}##{userId}`. That layout is
    observed, not documented, so this is a best effort used only to recognise the app's own
    changes; nothing else depends on it.
    """
    padded = membership_id + "=" * (-len(membership_id) % 4)
    try:
        text = base64.b64decode(padded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if "##" not in text:
        return None
    user = text.rsplit("##", 1)[1].strip()
    return user if user and "#" not in user else None

"""Throttling shaped like Graph's published limits, injected faults, and request counters.

Limits: https://learn.microsoft.com/graph/throttling-limits (per app per tenant; the sandbox is
one app in one tenant). Each bucket holds ``capacity`` tokens refilled over ``window`` seconds;
``scale`` multiplies every window (scale 0.1 = ten times faster, same shape). 429 answers carry
``Retry-After`` in whole seconds (at least 1), as https://learn.microsoft.com/graph/throttling shows.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from .errors import GraphError

# (capacity, window seconds)
TEAMS_CREATE = (10, 1.0)  # POST /teams: 10 rps per app per tenant
PER_TEAM = (4, 1.0)  # "at most 4 requests per second per app on any one team or channel"
CHANNEL_CREATE = (30, 1.0)
TEAMS_PATCH = (30, 1.0)
CHANNEL_DELETE = (15, 1.0)
TEAMS_GET_MEMBERS_CHANNELS = (60, 1.0)
TEAMS_OTHER_GET = (30, 1.0)
TEAMS_OTHER = (30, 1.0)
# Identity and access: 3,500 resource units per 10 s (tenant under 50 users); writes 3,000 / 2.5 min.
IDENTITY = (3500, 10.0)
IDENTITY_WRITES = (3000, 150.0)
# Subscriptions: 5,000 requests and 1,000 writes per 20 s per app per tenant.
SUBSCRIPTIONS = (5000, 20.0)
SUBSCRIPTION_WRITES = (1000, 20.0)
# Planner: "Service limits for Planner are not available" (throttling-limits, "Tasks and plans
# service limits"): no bucket of its own; like every request it draws from the global limit below.
# Global: "Any: 130,000 requests per 10 seconds" per app across all tenants (the same page).
GLOBAL = (130000, 10.0)
# Outlook service (To Do lives in the mailbox): 10,000 requests per 10 minutes per app per mailbox.
OUTLOOK_MAILBOX = (10000, 600.0)


def too_many_requests(retry_after: float, scope: str | None = None) -> GraphError:
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}
    if scope:
        headers["x-ms-throttle-scope"] = scope
    return GraphError(429, "TooManyRequests", "Please retry again later.", headers)


class Buckets:
    def __init__(self, scale: float) -> None:
        self.scale = scale
        self._state: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)

    def take(self, key: str, limit: tuple[int, float], cost: float = 1.0) -> float:
        """Take ``cost`` tokens; return 0 on success or the seconds to wait."""
        capacity, window = limit
        rate = capacity / max(window * self.scale, 1e-9)
        now = time.monotonic()
        tokens, last = self._state.get(key, (float(capacity), now))
        tokens = min(float(capacity), tokens + (now - last) * rate)
        if tokens >= cost:
            self._state[key] = (tokens - cost, now)
            return 0.0
        self._state[key] = (tokens, now)
        return (cost - tokens) / rate


def buckets_for(
    method: str, template: str, params: dict[str, str]
) -> list[tuple[str, tuple[int, float], float, str]]:
    """The buckets one request draws from: ``(key, limit, cost, scope)``."""
    write = method != "GET"
    out: list[tuple[str, tuple[int, float], float, str]] = [("global", GLOBAL, 1, "Global")]
    if template.startswith("/teams"):
        if template == "/teams" and method == "POST":
            out.append(("teams:create", TEAMS_CREATE, 1, "Teams"))
            return out
        team = params.get("id")
        if team and write:
            out.append((f"team:{team}", PER_TEAM, 1, "Teams/Team"))
        if template.endswith("/channels") and method == "POST":
            out.append(("teams:channel-create", CHANNEL_CREATE, 1, "Teams"))
        elif method == "PATCH" and template in ("/teams/{id}", "/teams/{id}/channels/{channelId}"):
            out.append(("teams:patch", TEAMS_PATCH, 1, "Teams"))
        elif method == "DELETE" and "/channels/" in template:
            out.append(("teams:channel-delete", CHANNEL_DELETE, 1, "Teams"))
        elif method == "GET" and template in ("/teams/{id}/members", "/teams/{id}/channels"):
            out.append(("teams:get-members-channels", TEAMS_GET_MEMBERS_CHANNELS, 1, "Teams"))
        elif method == "GET":
            out.append(("teams:get", TEAMS_OTHER_GET, 1, "Teams"))
        else:
            out.append(("teams:other", TEAMS_OTHER, 1, "Teams"))
    elif "/todo/" in template:
        out.append((f"outlook:{params.get('id', '').lower()}", OUTLOOK_MAILBOX, 1, "Outlook/Mailbox"))
    elif template.startswith(("/users", "/groups", "/directory")) and not template.startswith(
        "/groups/{id}/planner"
    ):
        # Resource-unit costs: GET users 2, groups/{id}/members 3, everything else 1.
        cost = 2.0 if (method == "GET" and template == "/users") else 1.0
        out.append(("identity", IDENTITY, cost, "Identity/Tenant"))
        if write:
            out.append(("identity:writes", IDENTITY_WRITES, 1, "Identity/Tenant"))
    elif template.startswith("/subscriptions"):
        out.append(("subscriptions", SUBSCRIPTIONS, 1, "Subscriptions"))
        if write:
            out.append(("subscriptions:writes", SUBSCRIPTION_WRITES, 1, "Subscriptions"))
    return out


@dataclass
class Fault:
    route: str  # "*" or "METHOD /template" or "/template" (any method)
    until: float
    status: int = 0  # forced error status (e.g. 500, 503); 0 = none
    error_rate: float = 0.0
    throttle_ratio: float = 0.0
    latency_ms: float = 0.0
    retry_after: float = 1.0

    def matches(self, key: str) -> bool:
        if self.route == "*":
            return True
        if self.route.startswith("/"):
            return key.split(" ", 1)[1] == self.route
        return key == self.route


class Faults:
    def __init__(self, seed: int = 1234) -> None:
        self.active: list[Fault] = []
        self.rng = random.Random(seed)

    def set(self, spec: dict[str, Any]) -> Fault:
        fault = Fault(
            route=spec.get("route", "*"),
            until=time.monotonic() + float(spec.get("seconds", 60)),
            status=int(spec.get("status", 0) or 0),
            error_rate=float(spec.get("error_rate", 1.0 if spec.get("status") else 0.0)),
            throttle_ratio=float(spec.get("throttle_ratio", 0.0)),
            latency_ms=float(spec.get("latency_ms", 0.0)),
            retry_after=float(spec.get("retry_after", 1.0)),
        )
        self.active.append(fault)
        return fault

    def clear(self) -> None:
        self.active.clear()

    def for_key(self, key: str) -> list[Fault]:
        now = time.monotonic()
        self.active = [f for f in self.active if f.until > now]
        return [f for f in self.active if f.matches(key)]


class Counters:
    """Requests by ``"METHOD /template"`` and status, throttled count, notification delivery stats."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests: dict[str, Counter[str]] = defaultdict(Counter)
        self.throttled = 0
        self.notifications: Counter[str] = Counter()

    def record(self, key: str, status: int) -> None:
        self.requests[key][str(status)] += 1
        if status == 429:
            self.throttled += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": {k: dict(v) for k, v in sorted(self.requests.items())},
            "totals": {k: sum(v.values()) for k, v in sorted(self.requests.items())},
            "throttled": self.throttled,
            "notifications": dict(self.notifications),
        }

"""Change and lifecycle notification delivery, and the subscription validation handshake.

Delivery rules: https://learn.microsoft.com/graph/change-notifications-delivery-webhooks
- the endpoint must answer 2xx within 3 s; otherwise Graph retries (the sandbox: a bounded
  number of attempts with exponential backoff, times ``scale``);
- a response over 2,900 ms counts as slow; with >= 100 deliveries and >= 15 % slow, Graph drops
  notifications for the endpoint (the sandbox does the same; counters reset with reset-counters).
Payload shape: https://learn.microsoft.com/graph/api/resources/changenotification

Delivery to one endpoint: at most `MAX_IN_FLIGHT` POSTs at once; the change notifications that
wait meanwhile go out together, up to `MAX_BATCH` per POST -- a payload is a
changeNotificationCollection, "a collection of resource change notifications sent to the
subscriber" (https://learn.microsoft.com/graph/api/resources/changenotificationcollection), and
may mix subscriptions. A quiet endpoint gets one notification per POST, a busy one fewer, larger
POSTs. (Until 2026-12-03 the sandbox opened a POST per change with no bound: at ~1,500 changes/s
its own client queued past the 2,900 ms slow mark and it dropped notifications an endpoint had
answered in milliseconds, a fault of the stand-in, not of the endpoint.) Graph documents neither
number; the endpoint must handle both shapes either way.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter, deque
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from .poster import Poster, PostError

if TYPE_CHECKING:
    from .core import Sandbox

TIMEOUT_S = 3.0
SLOW_MS = 2900
VALIDATION_TIMEOUT_S = 10.0
MAX_ATTEMPTS = 4
BACKOFF_S = 1.0
MAX_IN_FLIGHT = 8  # POSTs at once to one endpoint (the sandbox's choice)
MAX_BATCH = 50  # change notifications in one POST when several wait (the sandbox's choice)

# changed kind -> (subscription resources that see it, @odata.type in resourceData)
_TYPES = {
    "member": "#Microsoft.Graph.aadUserConversationMember",
    "channel": "#Microsoft.Graph.channel",
    "team": "#Microsoft.Graph.team",
    "group": "#Microsoft.Graph.Group",
    "todoTask": "#microsoft.graph.todoTask",
}


def canonical_resource(resource: str) -> str:
    from .core import normalise_path

    return normalise_path(resource).lower()


def _targets(change: dict[str, Any]) -> list[tuple[set[str], str, str, str]]:
    """``(resources, kind, resource path, id)`` for each notification a change produces."""
    if change["kind"] == "todoTask":
        # One subscription per task list, the user named by id or UPN (local/graph/todo.py).
        user, list_id = change["userId"], change["listId"]
        users = {u for u in (user, change.get("upn")) if u}
        resources = {canonical_resource(f"/users/{u}/todo/lists/{list_id}/tasks") for u in users}
        path = f"users/{user}/todo/lists/{list_id}/tasks/{change['id']}"
        return [(resources, "todoTask", path, change["id"])]
    kind, team = change["kind"], change["teamId"]
    out: list[tuple[set[str], str, str, str]] = []
    if kind == "member":
        path = f"teams('{team}')/members('{change['id']}')"
        out.append(({"/teams/getallmembers", f"/teams/{team}/members".lower()}, "member", path, change["id"]))
    elif kind == "channel":
        path = f"teams('{team}')/channels('{change['id']}')"
        out.append(
            ({"/teams/getallchannels", f"/teams/{team}/channels".lower()}, "channel", path, change["id"])
        )
    elif kind == "team":
        out.append(({"/teams", f"/teams/{team}".lower()}, "team", f"teams('{team}')", team))
    if kind in ("member", "group", "team"):
        # Users and groups: create and soft delete arrive as "updated", hard delete as "deleted".
        # https://learn.microsoft.com/graph/api/resources/subscription
        resources = {"/groups", f"/groups/{team}".lower()}
        if kind == "member":
            resources.add(f"/groups/{team}/members".lower())
        out.append((resources, "group", f"Groups/{team}", team))
    return out


class Notifier:
    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.client: httpx.AsyncClient | None = None  # the subscription handshake
        self.poster = Poster()  # deliveries (local/graph/poster.py)
        self.tasks: set[asyncio.Task[None]] = set()
        self.endpoints: dict[str, Counter[str]] = {}
        self.waiting: dict[str, deque[dict[str, Any]]] = {}  # change notifications per endpoint
        self.senders: Counter[str] = Counter()  # sender tasks running per endpoint
        self._subs: tuple[int, list[tuple[dict[str, Any], str, frozenset[str]]]] | None = None

    async def start(self) -> None:
        # The handshake's client. Deliveries go through `poster`, which opens a connection for
        # each POST in flight that finds none idle, so a POST never waits for a connection: the
        # time it takes is the endpoint's answer time (the slow mark measures the endpoint).
        self.client = httpx.AsyncClient(timeout=VALIDATION_TIMEOUT_S)

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.client is not None:
            await self.client.aclose()
        await self.poster.close()

    @property
    def counters(self) -> Counter[str]:
        return self.sb.counters.notifications

    # -- handshake ----------------------------------------------------------------------------
    async def validate(self, url: str) -> str | None:
        """POST ``url?validationToken=…``; None when the endpoint echoed it, else the reason."""
        assert self.client is not None
        token = (
            f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
        )
        sep = "&" if "?" in url else "?"
        try:
            resp = await self.client.post(
                f"{url}{sep}validationToken={quote(token)}",
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=VALIDATION_TIMEOUT_S,
            )
        except httpx.HTTPError as exc:
            return f"Subscription validation request failed. {type(exc).__name__}: {exc}"
        mismatch = (
            "Subscription validation request failed. "
            "Response must exactly match validationToken query parameter."
        )
        if resp.status_code != 200:
            return f"{mismatch} Status {resp.status_code}."
        if not resp.headers.get("content-type", "").startswith("text/plain") or resp.text != token:
            return mismatch
        return None

    # -- change notifications -----------------------------------------------------------------
    def publish(self, change: dict[str, Any]) -> None:
        """Queue notifications for a change ``{kind, changeType, teamId, id}`` (To Do:
        ``{kind: "todoTask", changeType, userId, upn, listId, id, etag}``; sync, cheap)."""
        subs = self._subscriptions()
        if not subs:
            return
        now = time.time()
        by_url: dict[str, list[dict[str, Any]]] = {}
        for resources, kind, path, ident in _targets(change):
            change_type = change["changeType"]
            if kind == "group" and change_type == "created":
                change_type = "updated"
            for sub, resource, change_types in subs:
                if sub["_expiresAt"] < now or resource not in resources or change_type not in change_types:
                    continue
                resource_data = {"@odata.type": _TYPES[kind], "@odata.id": path, "id": ident}
                if kind == "group":
                    resource_data["organizationId"] = self.sb.tenant_id
                if change.get("etag"):
                    resource_data["@odata.etag"] = change["etag"]
                by_url.setdefault(sub["notificationUrl"], []).append(
                    {
                        "id": str(uuid.uuid4()),
                        "subscriptionId": sub["id"],
                        "subscriptionExpirationDateTime": sub["expirationDateTime"],
                        "changeType": change_type,
                        "resource": path,
                        "resourceData": resource_data,
                        "clientState": sub.get("clientState"),
                        "tenantId": self.sb.tenant_id,
                    }
                )
        for url, items in by_url.items():
            self.waiting.setdefault(url, deque()).extend(items)
            if self.senders[url] < MAX_IN_FLIGHT and self._spawn(url, None, "change"):
                self.senders[url] += 1

    def _subscriptions(self) -> list[tuple[dict[str, Any], str, frozenset[str]]]:
        """Every subscription with its canonical resource and change types, read again only after
        a subscription was written (`Store.writes`): every change publishes, ~20,000 of them in
        a 1,000-store provisioning, and reading and decoding the rows each time was ~6 % of the
        sandbox's CPU."""
        written = self.sb.store.writes["subscription"]
        if self._subs is None or self._subs[0] != written:
            rows = [s for _, s in self.sb.store.query("subscription")]
            subs = [
                (s, canonical_resource(s["resource"]), frozenset(s["changeType"].split(","))) for s in rows
            ]
            self._subs = (written, subs)
        return self._subs[1]

    def lifecycle(self, sub: dict[str, Any], event: str) -> None:
        url = sub.get("lifecycleNotificationUrl") or sub["notificationUrl"]
        item = {
            "subscriptionId": sub["id"],
            "subscriptionExpirationDateTime": sub["expirationDateTime"],
            "tenantId": self.sb.tenant_id,
            "clientState": sub.get("clientState"),
            "lifecycleEvent": event,
        }
        self._spawn(url, {"value": [item]}, "lifecycle")

    def _spawn(self, url: str, payload: dict[str, Any] | None, kind: str) -> bool:
        """Start a delivery task: `payload`, or (None) a sender of `url`'s waiting changes."""
        work = self._send_waiting(url) if payload is None else self._deliver(url, payload, kind)
        try:
            task = asyncio.get_running_loop().create_task(work)
        except RuntimeError:  # no loop (side effects applied outside the server): nothing to deliver
            work.close()
            self.waiting.pop(url, None)
            return False
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return True

    async def _send_waiting(self, url: str) -> None:
        """One of `url`'s senders: POST what waits, `MAX_BATCH` at a time, until nothing does."""
        try:
            queue = self.waiting.get(url)
            while queue:
                batch = [queue.popleft() for _ in range(min(MAX_BATCH, len(queue)))]
                await self._deliver(url, {"value": batch}, "change")
        finally:
            self.senders[url] -= 1

    async def _deliver(self, url: str, payload: dict[str, Any], kind: str) -> None:
        stats = self.endpoints.setdefault(url, Counter())
        if stats["total"] >= 100 and stats["slow"] * 100 >= 15 * stats["total"]:
            self.counters["dropped"] += 1
            return
        # The JSON httpx's `json=` sent before (compact, UTF-8, no NaN).
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                self.counters["retried"] += 1
                await asyncio.sleep(self.sb.seconds(BACKOFF_S * 2 ** (attempt - 1)))
            started = time.monotonic()
            try:
                ok = 200 <= await self.poster.post_json(url, body, TIMEOUT_S) < 300
            except PostError:
                ok = False
            elapsed_ms = (time.monotonic() - started) * 1000
            stats["total"] += 1
            if elapsed_ms > SLOW_MS:
                stats["slow"] += 1
                self.counters["slow"] += 1
            if ok:
                self.counters["delivered" if kind == "change" else "lifecycle_delivered"] += 1
                return
            self.counters["failed_attempts"] += 1
        self.counters["dropped"] += 1

    async def drain(self, wait_s: float = 10.0) -> None:
        """Wait until every queued delivery finished (tests and the side channel use it)."""
        deadline = time.monotonic() + wait_s
        while self.tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self.tasks), timeout=max(0.0, deadline - time.monotonic()))

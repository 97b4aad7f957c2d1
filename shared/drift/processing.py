"""Processing queued Graph notifications (the `graph-notifications` queue), after the 202.

For each change notification: what it names → the team id → the team key (mapping table,
reverse lookup) → own change (echo) or drift → `spine.request(TEAMS, key, reason="teams drift: ...")`.
Unmapped teams are not ours: ignored (debug log). Lifecycle notifications go to the
`SubscriptionKeeper` (renew, recreate) or, for `missed`, start a reconciliation of every team.

A message that is not what the webhook writes raises `BadNotificationMessage` (a reason code
first): Service Bus retries it and dead-letters it after max delivery count, with that text.
Processing is idempotent: a redelivered message only counts one more sync request.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

from shared import telemetry
from shared.domain.teams import TeamKey
from shared.drift.echoes import is_echo
from shared.drift.notifications import (
    ChangeNotification,
    InvalidPayload,
    LifecycleEvent,
    LifecycleNotification,
    parse_notification,
    resource_ref,
    todo_task_of,
)
from shared.drift.webhook import MESSAGE_SCHEMA
from shared.spine import ACTIVE_STATUSES, OrchestrationClient, RequestQueue, request
from shared.state import StateStore
from shared.sync.requests import TEAMS

log = logging.getLogger("cts.drift")

RECONCILE_ORCHESTRATOR = "reconcile_all"
MISSED_RECONCILE_INSTANCE = "drift-missed-reconcile"


class BadNotificationMessage(ValueError):
    """A queue message that can never be processed; the text starts with the reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class LifecycleHandler(Protocol):
    """What lifecycle events need (`SubscriptionKeeper` in production)."""

    async def reauthorize(self, subscription_id: str) -> Any: ...

    async def replace_removed(self, subscription_id: str) -> Any: ...


@dataclass(frozen=True)
class Outcome:
    # sync-started | sync-pending | echo | unknown-team | not-a-team | renewed | unknown-subscription |
    # recreated | reconcile-started | reconcile-pending | mirror-started | mirror-pending | unknown-todo
    what: str
    detail: str = ""


def read_message(body: bytes | str) -> list[ChangeNotification | LifecycleNotification]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadNotificationMessage("invalid-json", "the message body is not JSON") from None
    if not isinstance(document, dict) or document.get("schema") != MESSAGE_SCHEMA:
        raise BadNotificationMessage("unknown-schema", f"expected schema {MESSAGE_SCHEMA!r}")
    items = document.get("value")
    if not isinstance(items, list):
        raise BadNotificationMessage("invalid-shape", 'expected a "value" array')
    try:
        return [parse_notification(item, i) for i, item in enumerate(items)]
    except InvalidPayload as exc:
        raise BadNotificationMessage(exc.reason, exc.detail) from None


class DriftProcessor:
    def __init__(
        self, state: StateStore, client: OrchestrationClient, lifecycle: LifecycleHandler | None = None
    ) -> None:
        self.state = state
        self.client = client
        self.lifecycle = lifecycle

    async def process(self, body: bytes | str) -> list[Outcome]:
        """Handle one queue message (one webhook POST's accepted notifications)."""
        outcomes = [await self._one(n) for n in read_message(body)]
        counts = Counter(o.what for o in outcomes)
        for what, n in counts.items():
            await self.state.bump(f"drift.{what}", n)
        return outcomes

    async def _one(self, n: ChangeNotification | LifecycleNotification) -> Outcome:
        if isinstance(n, LifecycleNotification):
            return await self._lifecycle(n)
        todo_task = todo_task_of(n.resource)
        if todo_task is not None:
            return await self._todo(todo_task, n.change_type)
        ref = resource_ref(n.resource)
        if ref is None:
            telemetry.log_event(log, "notification for a resource drift does not watch", resource=n.resource)
            return Outcome("not-a-team", n.resource)
        key = await self.state.team_key_of(ref.team_id)
        if key is None:
            telemetry.log_event(
                log,
                "notification for a team the app does not manage",
                level=logging.DEBUG,
                team_id=ref.team_id,
            )
            return Outcome("unknown-team", ref.team_id)
        echo = await is_echo(self.state, ref, n.change_type)
        if echo is not None:
            telemetry.log_event(log, "own change echoed by Graph: skipped", team_key=key, echo=echo)
            return Outcome("echo", echo)
        reason = f"teams drift: {ref.kind.value} {ref.item_id} {n.change_type}"
        done = await request(
            TEAMS, str(TeamKey.parse(key)), self.client, RequestQueue(self.state, TEAMS), reason=reason
        )
        telemetry.log_event(log, "drift: sync requested", team_key=key, reason=reason, request=done)
        return Outcome(f"sync-{done}", key)

    async def _todo(self, task_id: str, change_type: str) -> Outcome:
        """To Do mode: a worker changed their copy of a store task -> a mirror pass of that pair
        (it reads the To Do task; our own writes come back too and change nothing there)."""
        from shared.mirror.requests import TASK_PAIRS
        from shared.mirror.todo import pair_of_todo_task

        key = await pair_of_todo_task(self.state, task_id)
        if key is None:
            log.debug("To Do notification for a task the app does not mirror")
            return Outcome("unknown-todo", task_id)
        queue = RequestQueue(self.state, TASK_PAIRS)
        done = await request(TASK_PAIRS, key, self.client, queue, reason=f"to do {change_type}")
        return Outcome(f"mirror-{done}", key)

    async def _lifecycle(self, n: LifecycleNotification) -> Outcome:
        sid = n.subscription_id
        telemetry.log_event(
            log,
            "subscription lifecycle event",
            level=logging.WARNING,
            subscription_id=sid,
            lifecycle_event=n.lifecycle_event.value,
        )
        if n.lifecycle_event is LifecycleEvent.MISSED:
            return Outcome("reconcile-" + await self._reconcile_all(), sid)
        if self.lifecycle is None:
            raise BadNotificationMessage("no-lifecycle-handler", "lifecycle notifications need the keeper")
        if n.lifecycle_event is LifecycleEvent.REAUTHORIZATION_REQUIRED:
            renewed = await self.lifecycle.reauthorize(sid)
            return Outcome("renewed" if renewed is not None else "unknown-subscription", sid)
        await self.lifecycle.replace_removed(sid)
        return Outcome("recreated", sid)

    async def _reconcile_all(self) -> str:
        """`missed`: notifications were lost, so any team may have drifted. One reconciliation of
        every team (the nightly one's orchestration), not one per notification."""
        if await self.client.runtime_status(MISSED_RECONCILE_INSTANCE) in ACTIVE_STATUSES:
            return "pending"
        await self.client.start_new(
            RECONCILE_ORCHESTRATOR, MISSED_RECONCILE_INSTANCE, {"dry_run": False, "reason": "graph: missed"}
        )
        return "started"

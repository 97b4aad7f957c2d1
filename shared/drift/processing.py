"""Processing queued Graph notifications (the `graph-notifications` queue), after the 202.

For each change notification: what it names → the team id → the team key (mapping table,
reverse lookup) → own change (echo) or drift → `spine.request(TEAMS, key, reason="teams drift: ...")`.
Unmapped teams are not ours: ignored (debug log). Lifecycle notifications go to the
`SubscriptionKeeper` (renew, recreate) or, for `missed`, start a reconciliation of every team.

The queue trigger hands over a batch of messages (`process_batch`). A message that is not what
the webhook writes is a `BadNotificationMessage` (a reason code first): the trigger sends it to
the quarantine, which dead-letters it with that reason; the batch's other messages are handled.
Processing is idempotent: a redelivered batch only counts one more sync request per team.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from shared import telemetry
from shared.domain.teams import TeamKey
from shared.drift import subscription_records
from shared.drift.echoes import echo_candidates, echo_in
from shared.drift.notifications import (
    ChangeNotification,
    InvalidPayload,
    LifecycleEvent,
    LifecycleNotification,
    ResourceKind,
    ResourceRef,
    parse_notification,
    resource_ref,
    todo_task_of,
)
from shared.drift.webhook import MESSAGE_SCHEMA
from shared.spine import ACTIVE_STATUSES, OrchestrationClient, RequestQueue, request
from shared.spine.features import RECORDS, RECORDS_CHANNEL_INDEX, TASK_PAIRS, TEAMS
from shared.spine.requests import STATUS_RECHECK
from shared.state import StateStore
from shared.state import teams as team_records

log = logging.getLogger("cts.drift")

RECONCILE_ORCHESTRATOR = "reconcile_all"
MISSED_RECONCILE_INSTANCE = "drift-missed-reconcile"


class BadNotificationMessage(ValueError):
    """A queue message that can never be processed; the text starts with the reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class TodoPairs(Protocol):
    async def __call__(self, state: StateStore, task_id: str) -> str | None: ...


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
    return read_envelope(body)[1]


Envelope = tuple[datetime, list[ChangeNotification | LifecycleNotification]]  # (received_at, notifications)


def read_envelope(body: bytes | str) -> Envelope:
    """A queue message's notifications and when the webhook received them (`received_at`;
    now when the message has none, as a hand-written one; never later than now, so a clock
    ahead of ours can only make fewer echoes, never more)."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadNotificationMessage("invalid-json", "the message body is not JSON") from None
    if not isinstance(document, dict) or document.get("schema") != MESSAGE_SCHEMA:
        raise BadNotificationMessage("unknown-schema", f"expected schema {MESSAGE_SCHEMA!r}")
    items = document.get("value")
    if not isinstance(items, list):
        raise BadNotificationMessage("invalid-shape", 'expected a "value" array')
    current = datetime.now(UTC)
    received_at = current if "received_at" not in document else _timestamp(document["received_at"])
    if received_at is None:
        raise BadNotificationMessage("invalid-shape", '"received_at" is not a timestamp with a time zone')
    received_at = min(received_at, current)
    try:
        return received_at, [parse_notification(item, i) for i, item in enumerate(items)]
    except InvalidPayload as exc:
        raise BadNotificationMessage(exc.reason, exc.detail) from None


def _timestamp(value: object) -> datetime | None:
    """An ISO 8601 timestamp with a time zone, else None."""
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


class _Batch:
    """What a batch of messages' notifications resolved to: lookups made once per id, and the
    notifications (by position) that ask for each team's sync or each pair's mirror pass."""

    def __init__(self, state: StateStore, todo_pairs: TodoPairs | None) -> None:
        self.state = state
        self.todo_pairs = todo_pairs
        self.keys: dict[str, str | None] = {}
        self.pairs: dict[str, str | None] = {}
        self.drift: dict[str, list[tuple[int, str]]] = {}
        self.todo: dict[str, list[tuple[int, str]]] = {}
        self.refs: dict[str, ResourceRef | None] = {}  # resource -> what it names (parsed once)
        self.notes: dict[str, datetime] = {}  # echo keys noted as own changes -> expiry
        self.looked_up: set[str] = set()  # echo keys read, noted or not

    def ref_of(self, resource: str) -> ResourceRef | None:
        if resource not in self.refs:
            self.refs[resource] = resource_ref(resource)
        return self.refs[resource]

    async def prefetch(self, notifications: Sequence[ChangeNotification | LifecycleNotification]) -> None:
        """Read what the notifications will ask for, all at once: the index row of every team
        they name, then the first echo key of each about one of the app's teams (the key that
        matches an echo of the app's own change: `echo_candidates`). Each is one
        `Backend.get_many` (one SQLite query; Azure Tables point reads in flight together)
        instead of a read after another per notification, each a round trip to Table Storage.
        The same rows are read as before, no more. Teams first: a pass notes a team's echo keys
        before it records a team it created (shared/sync/team_pass.py), so a team found here
        has its notes written too."""
        refs = []
        for n in notifications:
            if isinstance(n, ChangeNotification) and todo_task_of(n.resource) is None:
                ref = self.ref_of(n.resource)
                if ref is not None:
                    refs.append((ref, n.change_type))
        ids = {ref.team_id for ref, _ in refs} - self.keys.keys()
        if ids:
            found = await team_records.team_keys_of(self.state, ids)
            self.keys.update({team_id: found.get(team_id) for team_id in ids})
        firsts = [echo_candidates(ref, change)[:1] for ref, change in refs if self.keys.get(ref.team_id)]
        await self._read_notes([key for first in firsts for key in first])

    async def _read_notes(self, keys: Sequence[str]) -> None:
        wanted = [k for k in dict.fromkeys(keys) if k not in self.looked_up]
        if wanted:
            self.notes.update(await self.state.own_changes(wanted))
            self.looked_up.update(wanted)

    async def echo(self, ref: ResourceRef, change_type: str, received_at: datetime) -> str | None:
        """The own-change key that makes this notification an echo, else None (`echo_in`, on the
        notes the batch read): candidates in order, each read only if the ones before it did
        not match, as `StateStore.any_own_change` reads them."""
        for key in echo_candidates(ref, change_type):
            await self._read_notes([key])
            if echo_in([key], self.notes, received_at):
                return key
        return None

    async def key_of(self, team_id: str) -> str | None:
        if team_id not in self.keys:
            self.keys[team_id] = await team_records.team_key_of(self.state, team_id)
        return self.keys[team_id]

    def forget_from(self, index: int) -> None:
        """Drop what the notifications from position `index` on asked for (a message found bad
        halfway: none of it is acted on)."""
        for wanted in (self.drift, self.todo):
            for key in list(wanted):
                wanted[key] = [item for item in wanted[key] if item[0] < index]
                if not wanted[key]:
                    del wanted[key]

    async def pair_of(self, task_id: str) -> str | None:
        if task_id not in self.pairs:
            found = None if self.todo_pairs is None else await self.todo_pairs(self.state, task_id)
            self.pairs[task_id] = found
        return self.pairs[task_id]


def _reason(drifts: list[tuple[int, str]]) -> str:
    first = drifts[0][1]
    return first if len(drifts) == 1 else f"{first} (and {len(drifts) - 1} more)"


class DriftProcessor:
    def __init__(
        self,
        state: StateStore,
        client: OrchestrationClient,
        lifecycle: LifecycleHandler | None = None,
        *,
        todo_pairs: TodoPairs | None = None,
    ) -> None:
        """`todo_pairs` maps a To Do task id to the pair it mirrors (task mirroring's
        `pair_of_todo_task`, passed in so drift does not import it); without it, To Do
        notifications are answered `unknown-todo`."""
        self.state = state
        self.client = client
        self.lifecycle = lifecycle
        self.todo_pairs = todo_pairs

    async def process(self, body: bytes | str) -> list[Outcome]:
        """Handle one queue message (one webhook POST's accepted notifications); raises
        `BadNotificationMessage` for a message that can never be processed. `process_batch`
        with one message."""
        (result,) = await self.process_batch([body])
        if isinstance(result, BadNotificationMessage):
            raise result
        return result

    async def process_batch(
        self, bodies: Sequence[bytes | str]
    ) -> list[list[Outcome] | BadNotificationMessage]:
        """Handle a batch of queue messages (a cardinality-many trigger's call) as one: one state
        read per distinct subscription and per distinct team (or To Do task) they name, one sync
        request per team with drift, whatever the number of messages and notifications or the
        size of the org. Gives each message its outcomes, or the `BadNotificationMessage` it is
        (nothing of that message is acted on; the others are).

        A notification of a subscription the app does not hold (state's subscription
        records, written by the keeper when it creates one) is dropped: outcome
        `unknown-subscription`, nothing else -- in particular a `subscriptionRemoved` for an
        unknown id does not run a full `ensure()`."""
        batch = _Batch(self.state, self.todo_pairs)
        known: dict[str, bool] = {}
        outcomes: list[Outcome] = []
        spans: list[tuple[int, int] | BadNotificationMessage] = []
        envelopes: list[Envelope | BadNotificationMessage] = []
        for body in bodies:
            try:
                envelopes.append(read_envelope(body))
            except BadNotificationMessage as exc:
                envelopes.append(exc)
        await batch.prefetch([n for e in envelopes if not isinstance(e, Exception) for n in e[1]])
        for envelope in envelopes:
            start = len(outcomes)
            try:
                if isinstance(envelope, BadNotificationMessage):
                    raise envelope
                received_at, notifications = envelope
                for notification in notifications:
                    # Let the worker's other work in between notifications: the webhook shares
                    # this event loop, and an embedded (SQLite) state store never yields by
                    # itself, so a batch of 1,000 would hold every POST's 202 until its end.
                    await asyncio.sleep(0)
                    sid = notification.subscription_id
                    if sid not in known:
                        known[sid] = await subscription_records.get_subscription(self.state, sid) is not None
                    if not known[sid]:
                        log.info("notification of a subscription the app does not hold: dropped")
                        outcomes.append(Outcome("unknown-subscription", sid))
                        continue
                    outcomes.append(await self._one(len(outcomes), notification, batch, received_at))
            except BadNotificationMessage as exc:
                batch.forget_from(start)  # nothing of this message is acted on
                del outcomes[start:]
                spans.append(exc)
                continue
            spans.append((start, len(outcomes)))
        for key, drifts in batch.drift.items():
            queue = RequestQueue(self.state, TEAMS)
            done = await request(  # a burst: one Durable status query per team per STATUS_RECHECK
                TEAMS,
                str(TeamKey.parse(key)),
                self.client,
                queue,
                reason=_reason(drifts),
                recheck=STATUS_RECHECK,
            )
            telemetry.log_event(log, "drift: sync requested", team_key=key, reason=drifts[0][1], request=done)
            outcomes[drifts[0][0]] = Outcome(f"sync-{done}", key)
            for i, _ in drifts[1:]:  # covered by that same request
                outcomes[i] = Outcome("sync-pending", key)
        for key, items in batch.todo.items():
            mirrored = await self._request_mirror(key, items[0][1])
            outcomes[items[0][0]] = Outcome(f"mirror-{mirrored}", key)
            for i, _ in items[1:]:
                outcomes[i] = Outcome("mirror-pending", key)
        counts = Counter(o.what for o in outcomes)
        for what, n in sorted(counts.items()):
            await self.state.bump(f"drift.{what}", n)
        return [
            span if isinstance(span, BadNotificationMessage) else outcomes[span[0] : span[1]]
            for span in spans
        ]

    async def _one(
        self,
        index: int,
        n: ChangeNotification | LifecycleNotification,
        batch: _Batch,
        received_at: datetime,
    ) -> Outcome:
        """The outcome of one notification; drift and To Do changes are only collected in
        `batch` (their outcome is set by `process` once the batch's requests are made)."""
        if isinstance(n, LifecycleNotification):
            return await self._lifecycle(n)
        todo_task = todo_task_of(n.resource)
        if todo_task is not None:
            key = await batch.pair_of(todo_task)
            if key is None:
                log.debug("To Do notification for a task the app does not mirror")
                return Outcome("unknown-todo", todo_task)
            batch.todo.setdefault(key, []).append((index, f"to do {n.change_type}"))
            return Outcome("mirror-pending", key)
        ref = batch.ref_of(n.resource)
        if ref is None:
            telemetry.log_event(log, "notification for a resource drift does not watch", resource=n.resource)
            return Outcome("not-a-team", n.resource)
        key = await batch.key_of(ref.team_id)
        if key is None and ref.kind is ResourceKind.CHANNEL:
            # A channel connected to Dynamics records (docs/records.md): its account's records pass
            # re-reads it (a deleted channel loses its tab, collaboration row and location).

            owner = await self.state.get_value(RECORDS_CHANNEL_INDEX, ref.item_id)
            if owner and owner.get("key"):
                records_key = str(owner["key"])
                done = await request(
                    RECORDS,
                    records_key,
                    self.client,
                    RequestQueue(self.state, RECORDS),
                    reason=f"teams drift: channel {n.change_type}",
                )
                return Outcome(f"records-{done}", records_key)
        if key is None:
            telemetry.log_event(
                log,
                "notification for a team the app does not manage",
                level=logging.DEBUG,
                team_id=ref.team_id,
            )
            return Outcome("unknown-team", ref.team_id)
        echo = await batch.echo(ref, n.change_type, received_at)
        if echo is not None:
            # Debug: a provisioning run echoes every member it adds; the batch's line counts them.
            telemetry.log_event(
                log, "own change echoed by Graph: skipped", level=logging.DEBUG, team_key=key, echo=echo
            )
            return Outcome("echo", echo)
        batch.drift.setdefault(key, []).append(
            (index, f"teams drift: {ref.kind.value} {ref.item_id} {n.change_type}")
        )
        return Outcome("sync-pending", key)

    async def _request_mirror(self, key: str, reason: str) -> str:
        """To Do mode: a worker changed their copy of a store task -> a mirror pass of that pair
        (it reads the To Do task; our own writes come back too and change nothing there)."""
        return await request(
            TASK_PAIRS, key, self.client, RequestQueue(self.state, TASK_PAIRS), reason=reason
        )

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
            RECONCILE_ORCHESTRATOR,
            MISSED_RECONCILE_INSTANCE,
            # Full: the lost notifications may have been channel changes, which no delta shows.
            {"dry_run": False, "full": True, "reason": "graph: missed"},
        )
        return "started"

"""Dead-letter replay and purge: the rules of docs/bus.md ("Replay"), over the bus protocol.

Pure parts (no I/O, unit-tested on their own): `DeadLetterFilter.matches`, `event_type_of`,
`store_of`, `replay_count`, `decide`, `replay_copy`, `replay_target`, `handler_entity`.
Protocol calls: `replay_dead_letters`, `purge_dead_letters`.

The rules:
- the copy gets a NEW message id (duplicate detection would silently drop a copy with the old
  one) and carries the original id, dead-letter reason and description, the replay count and
  the replay time in application properties; every other property is copied by hand, the
  session id included (a session entity refuses a message without one);
- it goes to the SAME subscription only: sent to the topic with `x-target-subscription`, which
  only that subscription's rule accepts (never a plain re-send to the topic: it fans out). A dead
  letter of the quarantine queue (shared/bus/quarantine.py) goes back to the entity it was
  rejected on, recorded on it as `cts-source-entity`; the quarantine's own properties are dropped;
- send first, then complete the dead letter: a failure in between leaves a duplicate (handlers
  are idempotent), never a loss;
- a message already replayed `max_replays` times is refused and stays in the DLQ;
- dry run by default; only dead letters enqueued before the run started are considered, so a
  copy that fails again during the run is not replayed again by the same run;
- one audit record per message considered, whatever the outcome.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from shared import telemetry
from shared.telemetry.context import DIAGNOSTIC_ID, ORIGINAL_TRACEPARENT

from .protocol import (
    TARGET_SUBSCRIPTION_PROPERTY,
    DeadLetterBus,
    EntityRef,
    OutgoingMessage,
    PropertyValue,
    ReceivedMessage,
)

ORIGINAL_MESSAGE_ID = "x-original-message-id"
ORIGINAL_DLQ_REASON = "x-original-dlq-reason"
ORIGINAL_DLQ_DESCRIPTION = "x-original-dlq-description"
REPLAY_COUNT = "x-replay-count"
REPLAYED_AT = "x-replayed-at"

#: Set by the quarantine (shared/bus/quarantine.py) on its copy of a message the app rejected:
#: the app's reason and description (what the copy is dead-lettered with), the entity the message
#: was rejected on (where a replay sends it back) and that delivery's broker properties.
DEAD_LETTER_REASON = "cts-dead-letter-reason"
DEAD_LETTER_DESCRIPTION = "cts-dead-letter-description"
SOURCE_ENTITY = "cts-source-entity"
SOURCE_SEQUENCE_NUMBER = "cts-source-sequence-number"
SOURCE_ENQUEUED_TIME = "cts-source-enqueued-time"
SOURCE_DELIVERY_COUNT = "cts-source-delivery-count"
QUARANTINE_PROPERTIES = (
    DEAD_LETTER_REASON,
    DEAD_LETTER_DESCRIPTION,
    SOURCE_ENTITY,
    SOURCE_SEQUENCE_NUMBER,
    SOURCE_ENQUEUED_TIME,
    SOURCE_DELIVERY_COUNT,
)

#: Application properties (first found wins) and body fields that name the event type / store.
EVENT_TYPE_PROPERTIES = ("BusinessEventId", "x-event-type", "event_type")
EVENT_TYPE_BODY_FIELDS = ("BusinessEventId",)
STORE_PROPERTIES = ("x-store", "store", "StoreNumber")
STORE_BODY_FIELDS = ("StoreNumber", "OperatingUnitNumber", "RetailStoreId", "store")

_MAX_PROPERTY_LENGTH = 4096  # keep copied descriptions within a sane application-property size


# -- pure: reading a dead letter ------------------------------------------------------------


def _body_json(message: ReceivedMessage) -> Mapping[str, Any]:
    try:
        data = json.loads(message.body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _first(message: ReceivedMessage, properties: tuple[str, ...], body_fields: tuple[str, ...]) -> str | None:
    for name in properties:
        value = message.application_properties.get(name)
        if value not in (None, ""):
            return str(value)
    body = _body_json(message) if body_fields else {}
    for name in body_fields:
        value = body.get(name)
        if value not in (None, "") and isinstance(value, str | int):
            return str(value)
    return None


def event_type_of(message: ReceivedMessage) -> str | None:
    """The business event id: an application property, else the body's `BusinessEventId`."""
    return _first(message, EVENT_TYPE_PROPERTIES, EVENT_TYPE_BODY_FIELDS)


def store_of(message: ReceivedMessage) -> str | None:
    """The store number the event is about, when the message says so."""
    return _first(message, STORE_PROPERTIES, STORE_BODY_FIELDS)


def replay_count(message: ReceivedMessage) -> int:
    value = message.application_properties.get(REPLAY_COUNT, 0)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which dead letters an operation selects; every given criterion must hold. `limit` caps the
    number selected (applied by the caller, in sequence order)."""

    reasons: frozenset[str] | None = None
    event_types: frozenset[str] | None = None
    stores: frozenset[str] | None = None
    enqueued_after: datetime | None = None  # inclusive
    enqueued_before: datetime | None = None  # exclusive
    sequence_numbers: frozenset[int] | None = None
    limit: int | None = None
    everything: bool = False  # the operator said "all" (`--all`, `all=true`): no filter is meant
    # The app's own reason for a dead letter whose Service Bus reason says only that delivery
    # failed (shared.ops.dlq.app_reason); `reasons` matches either.
    reason_of: Callable[[ReceivedMessage], str | None] | None = field(default=None, compare=False)

    def matches(self, message: ReceivedMessage) -> bool:
        if self.reasons is not None:
            own = self.reason_of(message) if self.reason_of is not None else None
            if message.dead_letter_reason not in self.reasons and own not in self.reasons:
                return False
        if self.event_types is not None and event_type_of(message) not in self.event_types:
            return False
        if self.stores is not None and store_of(message) not in self.stores:
            return False
        if self.enqueued_after is not None and message.enqueued_time < _aware(self.enqueued_after):
            return False
        if self.enqueued_before is not None and message.enqueued_time >= _aware(self.enqueued_before):
            return False
        return self.sequence_numbers is None or message.sequence_number in self.sequence_numbers

    @property
    def narrows(self) -> bool:
        """Whether anything limits the selection (a criterion or a limit): a real replay or purge
        needs one, so that "all of them" is always a deliberate `limit`, never a default."""
        return self.everything or any(
            v is not None
            for v in (
                self.reasons,
                self.event_types,
                self.stores,
                self.enqueued_after,
                self.enqueued_before,
                self.sequence_numbers,
                self.limit,
            )
        )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _earliest(a: datetime | None, b: datetime) -> datetime:
    return _aware(b) if a is None else min(_aware(a), _aware(b))


# -- pure: deciding and building the copy ---------------------------------------------------


class Action(StrEnum):
    REPLAY = "replay"
    WOULD_REPLAY = "would_replay"
    REFUSED = "refused"
    FAILED = "failed"
    PURGED = "purged"
    WOULD_PURGE = "would_purge"


def decide(message: ReceivedMessage, *, max_replays: int) -> str | None:
    """Why this dead letter must not be replayed, or None when it may be."""
    count = replay_count(message)
    if count >= max_replays:
        return (
            f"already replayed {count} times (limit {max_replays}); "
            "fix the cause, then purge or raise the limit"
        )
    return None


def handler_entity(message: ReceivedMessage) -> EntityRef:
    """The entity whose handler a replay of this dead letter is for: the one it was rejected on when
    the quarantine recorded it (`cts-source-entity`), else the entity it is dead-lettered in."""
    source = message.application_properties.get(SOURCE_ENTITY)
    if isinstance(source, str) and source:
        try:
            return EntityRef.parse(source)
        except ValueError:
            pass
    return message.entity


def replay_target(entity: EntityRef) -> tuple[str, dict[str, PropertyValue]]:
    """Where a copy for `entity`'s handler is sent, and the properties that route it there."""
    if entity.subscription is None:
        return entity.name, {}
    return entity.name, {TARGET_SUBSCRIPTION_PROPERTY: entity.subscription}


def replay_trace(properties: Mapping[str, Any]) -> dict[str, PropertyValue]:
    """The copy continues the replay's own trace (or, replayed by an untraced `cts`, starts a new
    one on delivery) and keeps the original delivery's as `cts-original-traceparent` (kept across
    replays of replays), which the trigger links (shared/telemetry/context.py). Diagnostic-Id is
    the Azure SDKs' name for the same value."""
    original = telemetry.traceparent_of({"traceparent": properties.get(ORIGINAL_TRACEPARENT)})
    original = original or telemetry.traceparent_of(properties)
    out: dict[str, PropertyValue] = {}
    if original:
        out[ORIGINAL_TRACEPARENT] = original
    current = telemetry.carry().get(telemetry.TRACEPARENT)
    if current:  # else (an untraced cts): the copy's delivery starts a new trace, linked
        out[telemetry.TRACEPARENT] = out[DIAGNOSTIC_ID] = current
    return out


def replay_copy(message: ReceivedMessage, *, now: datetime, message_id: str | None = None) -> OutgoingMessage:
    """The copy to send for a dead letter: new id, provenance properties, routed to its entity."""
    _, routing = replay_target(handler_entity(message))
    dropped = {TARGET_SUBSCRIPTION_PROPERTY, *QUARANTINE_PROPERTIES}
    props: dict[str, PropertyValue] = {
        k: v for k, v in message.application_properties.items() if k not in dropped
    }
    props.update(routing)
    props[ORIGINAL_MESSAGE_ID] = str(
        message.application_properties.get(ORIGINAL_MESSAGE_ID) or message.message_id
    )
    props[REPLAY_COUNT] = replay_count(message) + 1
    props[REPLAYED_AT] = _aware(now).isoformat()
    if message.dead_letter_reason is not None:
        props[ORIGINAL_DLQ_REASON] = message.dead_letter_reason[:_MAX_PROPERTY_LENGTH]
    if message.dead_letter_error_description is not None:
        props[ORIGINAL_DLQ_DESCRIPTION] = message.dead_letter_error_description[:_MAX_PROPERTY_LENGTH]
    for name in (telemetry.TRACEPARENT, DIAGNOSTIC_ID):
        props.pop(name, None)
    props.update(replay_trace(message.application_properties))
    return OutgoingMessage(
        body=message.body,
        message_id=message_id or uuid.uuid4().hex,
        content_type=message.content_type,
        subject=message.subject,
        correlation_id=message.correlation_id,
        session_id=message.session_id,
        to=message.to,
        reply_to=message.reply_to,
        partition_key=message.partition_key,
        application_properties=props,
        # TTL starts again with the copy; a scheduled time in the past means nothing now.
        time_to_live=message.time_to_live,
    )


# -- audit ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditRecord:
    action: Action
    entity: str
    sequence_number: int
    message_id: str
    dead_letter_reason: str | None
    replay_count: int
    at: datetime
    dry_run: bool
    new_message_id: str | None = None
    detail: str | None = None
    event_type: str | None = None
    store: str | None = None
    body_sha256: str | None = None
    """SHA-256 of the body acted on: a purged message can be matched later without the audit
    keeping its (possibly personal) content."""


AuditSink = Callable[[AuditRecord], Awaitable[None] | None]


@dataclass
class Summary:
    selected: int = 0
    done: int = 0
    refused: int = 0
    failed: int = 0
    dry_run: bool = True
    records: list[AuditRecord] = field(default_factory=list)


async def _emit(audit: AuditSink | None, summary: Summary, record: AuditRecord) -> None:
    summary.records.append(record)
    if audit is not None:
        result = audit(record)
        if inspect.isawaitable(result):
            await result


def _record(
    action: Action, message: ReceivedMessage, now: datetime, dry_run: bool, **extra: Any
) -> AuditRecord:
    return AuditRecord(
        action=action,
        entity=message.entity.path,
        sequence_number=message.sequence_number,
        message_id=message.message_id,
        dead_letter_reason=message.dead_letter_reason,
        replay_count=replay_count(message),
        at=now,
        dry_run=dry_run,
        event_type=event_type_of(message),
        store=store_of(message),
        body_sha256=hashlib.sha256(bytes(message.body)).hexdigest(),
        **extra,
    )


# -- protocol calls -------------------------------------------------------------------------

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def list_dead_letters(
    bus: DeadLetterBus,
    entity: EntityRef,
    selection: DeadLetterFilter = DeadLetterFilter(),
    *,
    page_size: int = 100,
) -> list[ReceivedMessage]:
    """Peek every dead letter of `entity` the filter selects (sequence order, `limit` applied)."""
    found: list[ReceivedMessage] = []
    next_seq = 0
    while selection.limit is None or len(found) < selection.limit:
        page = await bus.peek_dead_letters(entity, max_count=page_size, from_sequence_number=next_seq)
        if not page:
            break
        found.extend(m for m in page if selection.matches(m))
        next_seq = page[-1].sequence_number + 1
    return found if selection.limit is None else found[: selection.limit]


async def _selected_locked(
    bus: DeadLetterBus,
    entity: EntityRef,
    selection: DeadLetterFilter,
    cutoff: datetime,
    work: Callable[[ReceivedMessage, Any], Awaitable[bool]],
    batch_size: int,
    max_wait: float,
) -> None:
    """Receive-and-lock dead letters, call `work(message, receiver)` for those the filter selects
    (until it has returned True `limit` times). Unselected ones stay locked until the end so the
    scan does not see them again; closing the receiver releases them."""
    window = replace(selection, enqueued_before=_earliest(selection.enqueued_before, cutoff))
    seen: set[int] = set()
    done = 0
    async with bus.dead_letter_receiver(entity) as receiver:
        while selection.limit is None or done < selection.limit:
            batch = await receiver.receive(max_count=batch_size, max_wait=max_wait)
            fresh = [m for m in batch if m.sequence_number not in seen]
            if not fresh:
                break
            for message in fresh:
                seen.add(message.sequence_number)
                if (selection.limit is not None and done >= selection.limit) or not window.matches(message):
                    continue  # stays locked; released on close
                if await work(message, receiver):
                    done += 1


async def replay_dead_letters(
    bus: DeadLetterBus,
    entity: EntityRef,
    selection: DeadLetterFilter = DeadLetterFilter(),
    *,
    max_replays: int = 3,
    dry_run: bool = True,
    audit: AuditSink | None = None,
    clock: Clock = _utcnow,
    batch_size: int = 50,
    max_wait: float = 1.0,
) -> Summary:
    """Replay the selected dead letters of `entity` to its own handler (see the module rules)."""
    started = clock()
    summary = Summary(dry_run=dry_run)

    async def one(message: ReceivedMessage, receiver: Any) -> bool:
        summary.selected += 1
        refusal = decide(message, max_replays=max_replays)
        now = clock()
        if refusal is not None:
            summary.refused += 1
            await _emit(audit, summary, _record(Action.REFUSED, message, now, dry_run, detail=refusal))
            return False
        copy = replay_copy(message, now=now)
        if dry_run:
            summary.done += 1
            await _emit(
                audit,
                summary,
                _record(Action.WOULD_REPLAY, message, now, True, new_message_id=copy.message_id),
            )
            return True
        try:
            await bus.send(replay_target(handler_entity(message))[0], [copy])
        except Exception as exc:
            summary.failed += 1
            await _emit(
                audit,
                summary,
                _record(Action.FAILED, message, now, False, detail=f"send failed, dead letter kept: {exc}"),
            )
            return False
        summary.done += 1
        try:
            await receiver.complete(message)
        except Exception as exc:
            # The copy is on its way; the dead letter stays. A later replay makes a duplicate,
            # which the idempotent handler absorbs. Never a loss.
            await _emit(
                audit,
                summary,
                _record(
                    Action.REPLAY,
                    message,
                    now,
                    False,
                    new_message_id=copy.message_id,
                    detail=f"copy sent; completing the dead letter failed: {exc}",
                ),
            )
            return True
        await _emit(
            audit, summary, _record(Action.REPLAY, message, now, False, new_message_id=copy.message_id)
        )
        return True

    if dry_run:
        window = replace(selection, limit=None, enqueued_before=_earliest(selection.enqueued_before, started))
        for message in await list_dead_letters(bus, entity, window):
            if selection.limit is not None and summary.done >= selection.limit:
                break
            await one(message, None)
        return summary

    await _selected_locked(bus, entity, selection, started, one, batch_size, max_wait)
    return summary


async def purge_dead_letters(
    bus: DeadLetterBus,
    entity: EntityRef,
    selection: DeadLetterFilter = DeadLetterFilter(),
    *,
    dry_run: bool = True,
    audit: AuditSink | None = None,
    clock: Clock = _utcnow,
    batch_size: int = 50,
    max_wait: float = 1.0,
) -> Summary:
    """Delete the selected dead letters of `entity`, with an audit record per message."""
    started = clock()
    summary = Summary(dry_run=dry_run)
    if dry_run:
        window = replace(selection, enqueued_before=_earliest(selection.enqueued_before, started))
        for message in await list_dead_letters(bus, entity, window):
            summary.selected += 1
            summary.done += 1
            await _emit(audit, summary, _record(Action.WOULD_PURGE, message, clock(), True))
        return summary

    async def one(message: ReceivedMessage, receiver: Any) -> bool:
        summary.selected += 1
        try:
            await receiver.complete(message)
        except Exception as exc:
            summary.failed += 1
            await _emit(
                audit, summary, _record(Action.FAILED, message, clock(), False, detail=f"purge failed: {exc}")
            )
            return False
        summary.done += 1
        await _emit(audit, summary, _record(Action.PURGED, message, clock(), False))
        return True

    await _selected_locked(bus, entity, selection, started, one, batch_size, max_wait)
    return summary

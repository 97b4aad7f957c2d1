"""Dead letters for operators: which entities, filters from text, views, replay and purge with
an audit record per message in the state store. The replay rules themselves are in
`shared.bus.replay` (new message id, same subscription only, send then complete, ceiling, dry run).

Used by `cts dlq` and by the admin HTTP functions / ops page (functions/ops.py).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.servicebus.exceptions import MessagingEntityNotFoundError

from shared.bus.protocol import DeadLetterBus, EntityRef, ReceivedMessage
from shared.bus.quarantine import QUARANTINE_QUEUE, quarantined_reason
from shared.bus.replay import (
    ORIGINAL_MESSAGE_ID,
    SOURCE_ENTITY,
    AuditRecord,
    DeadLetterFilter,
    Summary,
    event_type_of,
    list_dead_letters,
    purge_dead_letters,
    replay_count,
    replay_dead_letters,
    store_of,
)
from shared.commerce.events import parse_message
from shared.domain.events import Rejection
from shared.settings import Settings
from shared.state import StateStore

#: The state store's audit kind for dead-letter operations (`StateStore.audit_trail("dlq")`).
AUDIT_KIND = "dlq"
#: The queue the Graph webhook feeds (= shared.drift.webhook.QUEUE).
GRAPH_NOTIFICATIONS_QUEUE = "graph-notifications"

_AGE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


#: What Service Bus records when a message was abandoned `maxDeliveryCount` times; the Functions
#: host abandons a message whose function raised, so a rejected Commerce event ends up with it.
MAX_DELIVERY_COUNT_EXCEEDED = "MaxDeliveryCountExceeded"


def app_reason(message: ReceivedMessage) -> str | None:
    """The app's reason code for a dead letter, the same in Azure and locally.

    A rejected message is dead-lettered by the quarantine (shared/bus/quarantine.py) with the code
    as its DeadLetterReason, and its copy carries the code as `cts-dead-letter-reason`: that
    property, whatever Service Bus recorded (also MaxDeliveryCountExceeded, had draining the
    quarantine queue kept failing). A message the quarantine never took (its send failed, so the
    host abandoned the original until Service Bus dead-lettered it with
    `MaxDeliveryCountExceeded` and its own description; docs/events.md, "Dead-lettering") still
    has its body, and parsing is pure and deterministic: parsing it again gives the rejection's
    code (`not_json`, `missing_key`, ...). A dead letter of a topic subscription whose body parses
    fine failed for another reason (e.g. Commerce unavailable): None. Other explicitly
    dead-lettered messages keep their own reason (None here)."""
    quarantined = quarantined_reason(message)
    if quarantined is not None:
        return quarantined
    if message.dead_letter_reason != MAX_DELIVERY_COUNT_EXCEEDED or message.entity.subscription is None:
        return None
    result = parse_message(
        message.body,
        content_type=message.content_type,
        application_properties=dict(message.application_properties),
    )
    return result.reason if isinstance(result, Rejection) else None


class BadFilter(ValueError):
    """A filter the user wrote that means nothing; the message says what to write instead."""


class NoSuchMessage(LookupError):
    """No dead letter with that sequence number (in the entities searched)."""


class NoSuchEntity(LookupError):
    """A queue or subscription the bus does not have."""


def app_entities(settings: Settings) -> list[EntityRef]:
    """The entities whose dead letters the app produces: the quarantine queue (rejected messages of
    every trigger, dead-lettered at once with the app's reason), the Commerce events subscription,
    the Graph notifications queue and the Dataverse record events subscription (messages that
    failed `maxDeliveryCount` times; a deployment without one of them skips it:
    `existing_entities`)."""
    return [
        EntityRef(QUARANTINE_QUEUE),
        EntityRef(settings.bus.topic, settings.bus.subscription),
        EntityRef(GRAPH_NOTIFICATIONS_QUEUE),
        EntityRef(settings.records.topic, settings.records.subscription),
    ]


def parse_entities(
    texts: Iterable[str] | None, allowed: Sequence[EntityRef] | None = None
) -> list[EntityRef] | None:
    """`entity=` values as refs. With `allowed` (the app's own entities), any other queue or
    subscription of the namespace is refused: the ops functions act on the app's dead letters only."""
    if not texts:
        return None
    try:
        refs = [EntityRef.parse(t) for t in texts]
    except ValueError as exc:
        raise BadFilter(str(exc)) from None
    if allowed is not None:
        own = {r.path.lower() for r in allowed}
        foreign = [r.path for r in refs if r.path.lower() not in own]
        if foreign:
            raise BadFilter(
                f"entity {foreign[0]!r} is not one of the app's: {', '.join(sorted(r.path for r in allowed))}"
            )
    return refs


def require_narrowing(selection: DeadLetterFilter, *, dry_run: bool, verb: str) -> None:
    """A real replay or purge must say what it acts on: a filter or a limit (BadFilter if not)."""
    if not dry_run and not selection.narrows:
        raise BadFilter(
            f"a real {verb} needs a filter (reason, event_type, store, since, until, seq), a limit, "
            f"or all (--all / all=true); run it as a dry run first to see what it would {verb}"
        )


def parse_time(text: str, *, option: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time or date (UTC unless it says otherwise), or an age such as 90m, 2h, 7d."""
    value = text.strip()
    age = _AGE.match(value.lower())
    if age:
        delta = timedelta(**{_UNITS[age.group(2)]: int(age.group(1))})
        return (now or datetime.now(UTC)) - delta
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadFilter(
            f"bad {option} {text!r}: use an ISO time (2025-05-01T10:00Z), a date, or an age like 30m, 2h, 7d"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def build_filter(
    *,
    reasons: Sequence[str] | None = None,
    event_types: Sequence[str] | None = None,
    stores: Sequence[str] | None = None,
    since: str | None = None,
    until: str | None = None,
    sequence_numbers: Sequence[int] | None = None,
    limit: int | None = None,
    everything: bool = False,
    now: datetime | None = None,
) -> DeadLetterFilter:
    """A `DeadLetterFilter` from user text; `BadFilter` says what is wrong."""
    after = parse_time(since, option="--since", now=now) if since else None
    before = parse_time(until, option="--until", now=now) if until else None
    if after is not None and before is not None and after >= before:
        raise BadFilter(f"--since ({after.isoformat()}) must be before --until ({before.isoformat()})")
    if limit is not None and limit < 1:
        raise BadFilter(f"--limit must be at least 1, not {limit}")
    for name, values in (("--reason", reasons), ("--event-type", event_types), ("--store", stores)):
        if values and any(not v.strip() for v in values):
            raise BadFilter(f"{name} must not be empty")

    def some(values: Sequence[Any] | None) -> frozenset[Any] | None:
        return frozenset(values) if values else None

    return DeadLetterFilter(
        reasons=some(reasons),
        event_types=some(event_types),
        stores=some(stores),
        enqueued_after=after,
        enqueued_before=before,
        sequence_numbers=some(sequence_numbers),
        limit=limit,
        everything=everything,
        reason_of=app_reason,
    )


def is_missing_entity(exc: BaseException) -> bool:
    """Service Bus's MessagingEntityNotFoundError, or the local broker's EntityNotFound (a
    LookupError; shared/ does not import local/)."""
    return isinstance(exc, MessagingEntityNotFoundError | LookupError)


async def existing_entities(
    bus: DeadLetterBus, entities: Sequence[EntityRef], *, explicit: bool
) -> list[EntityRef]:
    """The entities that exist. A missing one given explicitly is an error; a missing default
    (a deployment without the drift queue, say) is skipped."""
    found = []
    for entity in entities:
        try:
            await bus.peek_dead_letters(entity, max_count=1)
        except Exception as exc:
            if not is_missing_entity(exc):
                raise
            if explicit:
                raise NoSuchEntity(f"no queue or subscription {entity.path!r} on this bus") from None
            continue
        found.append(entity)
    return found


async def list_all(
    bus: DeadLetterBus, entities: Sequence[EntityRef], selection: DeadLetterFilter
) -> list[ReceivedMessage]:
    """Dead letters of every entity the filter selects; `limit` applies to the whole list."""
    found: list[ReceivedMessage] = []
    for entity in entities:
        remaining = None if selection.limit is None else selection.limit - len(found)
        if remaining is not None and remaining <= 0:
            break
        found += await list_dead_letters(bus, entity, _with_limit(selection, remaining))
    return found


async def find(bus: DeadLetterBus, entities: Sequence[EntityRef], sequence_number: int) -> ReceivedMessage:
    """The dead letter with this sequence number; sequence numbers are per entity, so more than
    one match asks for `--entity`."""
    matches = []
    for entity in entities:
        page = await bus.peek_dead_letters(entity, max_count=1, from_sequence_number=sequence_number)
        matches += [m for m in page if m.sequence_number == sequence_number]
    if not matches:
        where = ", ".join(e.path for e in entities) or "no entity"
        raise NoSuchMessage(f"no dead letter with sequence number {sequence_number} in {where}")
    if len(matches) > 1:
        raise BadFilter(
            f"sequence number {sequence_number} is dead-lettered in "
            f"{', '.join(m.entity.path for m in matches)}; choose one with --entity"
        )
    return matches[0]


def view(message: ReceivedMessage, *, body: bool = False) -> dict[str, Any]:
    """What an operator sees of a dead letter (JSON-ready)."""
    data: dict[str, Any] = {
        "entity": message.entity.path,
        "sequence_number": message.sequence_number,
        "message_id": message.message_id,
        # The app's code when it rejected the message, else what Service Bus recorded.
        "reason": app_reason(message) or message.dead_letter_reason,
        "dead_letter_reason": message.dead_letter_reason,
        "description": message.dead_letter_error_description,
        "delivery_count": message.delivery_count,
        "enqueued_time": message.enqueued_time.isoformat(),
        "event_type": event_type_of(message),
        "store": store_of(message),
        "replay_count": replay_count(message),
        "original_message_id": message.application_properties.get(ORIGINAL_MESSAGE_ID),
        # where the message was rejected, hence where a replay sends it (the quarantine's record)
        "source_entity": message.application_properties.get(SOURCE_ENTITY),
        "session_id": message.session_id,
    }
    if body:
        data.update(
            body=message.body.decode("utf-8", errors="replace"),
            content_type=message.content_type,
            subject=message.subject,
            correlation_id=message.correlation_id,
            application_properties=dict(message.application_properties),
            dead_letter_source=message.dead_letter_source,
        )
    return data


def record_view(record: AuditRecord) -> dict[str, Any]:
    return {
        "action": str(record.action),
        "entity": record.entity,
        "sequence_number": record.sequence_number,
        "message_id": record.message_id,
        "new_message_id": record.new_message_id,
        "reason": record.dead_letter_reason,
        "replay_count": record.replay_count,
        "event_type": record.event_type,
        "store": record.store,
        "dry_run": record.dry_run,
        "detail": record.detail,
        "body_sha256": record.body_sha256,
        "at": record.at.isoformat(),
    }


def summary_view(summary: Summary) -> dict[str, Any]:
    return {
        "dry_run": summary.dry_run,
        "selected": summary.selected,
        "done": summary.done,
        "refused": summary.refused,
        "failed": summary.failed,
        "messages": [record_view(r) for r in summary.records],
    }


OnRecord = Callable[[AuditRecord], None]


def _audit(state: StateStore, actor: str, on_record: OnRecord | None) -> Callable[[AuditRecord], Any]:
    """One audit record per message acted on (dry runs change nothing and are not audited)."""

    async def sink(record: AuditRecord) -> None:
        if not record.dry_run:
            await state.audit(AUDIT_KIND, {**record_view(record), "actor": actor})
        if on_record is not None:
            on_record(record)

    return sink


def _with_limit(selection: DeadLetterFilter, limit: int | None) -> DeadLetterFilter:
    from dataclasses import replace

    return replace(selection, limit=limit)


def _merge(total: Summary, part: Summary) -> None:
    total.selected += part.selected
    total.done += part.done
    total.refused += part.refused
    total.failed += part.failed
    total.records += part.records


async def _each_entity(
    entities: Sequence[EntityRef],
    selection: DeadLetterFilter,
    dry_run: bool,
    run: Callable[[EntityRef, DeadLetterFilter], Awaitable[Summary]],
) -> Summary:
    """Run `run` per entity, the selection's limit counting across all of them."""
    total = Summary(dry_run=dry_run)
    for entity in entities:
        remaining = None if selection.limit is None else selection.limit - total.done
        if remaining is not None and remaining <= 0:
            break
        _merge(total, await run(entity, _with_limit(selection, remaining)))
    return total


async def replay(
    bus: DeadLetterBus,
    state: StateStore,
    entities: Sequence[EntityRef],
    selection: DeadLetterFilter,
    *,
    max_replays: int,
    dry_run: bool = True,
    actor: str = "unknown",
    on_record: OnRecord | None = None,
    max_wait: float = 1.0,
) -> Summary:
    """Replay the selected dead letters of each entity to that entity's own handler. A real run
    needs a filter or a limit (`require_narrowing`)."""
    require_narrowing(selection, dry_run=dry_run, verb="replay")
    audit = _audit(state, actor, on_record)
    return await _each_entity(
        entities,
        selection,
        dry_run,
        lambda entity, chosen: replay_dead_letters(
            bus, entity, chosen, max_replays=max_replays, dry_run=dry_run, audit=audit, max_wait=max_wait
        ),
    )


async def purge(
    bus: DeadLetterBus,
    state: StateStore,
    entities: Sequence[EntityRef],
    selection: DeadLetterFilter,
    *,
    dry_run: bool = True,
    actor: str = "unknown",
    on_record: OnRecord | None = None,
    max_wait: float = 1.0,
) -> Summary:
    """Delete the selected dead letters, one audit record each (with the body's SHA-256). A real
    run needs a filter or a limit (`require_narrowing`)."""
    require_narrowing(selection, dry_run=dry_run, verb="purge")
    audit = _audit(state, actor, on_record)
    return await _each_entity(
        entities,
        selection,
        dry_run,
        lambda entity, chosen: purge_dead_letters(
            bus, entity, chosen, dry_run=dry_run, audit=audit, max_wait=max_wait
        ),
    )

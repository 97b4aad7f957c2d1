"""The quarantine: a message the app rejected is dead-lettered after ONE delivery, with the app's
reason code as its DeadLetterReason, using only GA components (docs/events.md, "Dead-lettering").

The GA Python binding (`func.ServiceBusMessage`) cannot settle the message it was handed, and
Service Bus has no "send into a dead-letter queue" operation: only the receiver holding a message's
lock can dead-letter it, with a reason of its choosing. So the trigger hands the message to a queue
the app owns and dead-letters it there:

1. `quarantine` sends a copy to `cts-quarantine` (same body, content type, ids and application
   properties, plus `cts-dead-letter-reason` / `-description`, the source entity and that
   delivery's sequence number, enqueued time and delivery count). Its message id is derived from
   the source entity and sequence number, and the queue has duplicate detection, so a redelivery
   of the same message cannot make a second copy. If the send fails it raises: the trigger raises,
   the host abandons the original, nothing is lost (and after `maxDeliveryCount` Service Bus
   dead-letters the original as before, `shared.ops.dlq.app_reason` still reading its reason).
2. `drain` receives from the queue (peek-lock) and dead-letters every message it gets with the
   reason and description *that message* carries, so whichever instance drains, each letter gets
   its own reason. A failure here is logged, not raised: the copy is safe in the queue.
3. The trigger returns normally and the host completes the original.

A crash between 1 and 2 leaves the copy active in the queue; the sweeper's timer drains it
(functions/commerce_events.py, `quarantine_drain`). If draining keeps failing, Service Bus
dead-letters the copy itself after the queue's `maxDeliveryCount` (MaxDeliveryCountExceeded) and
the copy still carries the app's reason in `cts-dead-letter-reason`.

The same calls run everywhere, through the `QueueBus` port: azure-servicebus in Azure
(`shared.bus.servicebus.ServiceBus`: `send_messages`, `get_queue_receiver(...).receive_messages`,
`dead_letter_message(reason=, error_description=)`; roles Data Sender + Data Receiver), the
embedded broker locally (`local.host.broker.Broker`, the same semantics, tests/broker).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared import telemetry

from .protocol import EntityRef, OutgoingMessage, PropertyValue, QueueBus, ReceivedMessage
from .replay import (
    DEAD_LETTER_DESCRIPTION,
    DEAD_LETTER_REASON,
    ORIGINAL_MESSAGE_ID,
    QUARANTINE_PROPERTIES,
    SOURCE_DELIVERY_COUNT,
    SOURCE_ENQUEUED_TIME,
    SOURCE_ENTITY,
    SOURCE_SEQUENCE_NUMBER,
)

log = logging.getLogger("cts.quarantine")

#: The queue (infra/resources.bicep: duplicate detection, maxDeliveryCount, TTL) whose dead-letter
#: sub-queue holds the app's rejected messages.
QUARANTINE_QUEUE = "cts-quarantine"

#: Service Bus keeps DeadLetterReason / DeadLetterErrorDescription as application properties; the
#: app keeps them short (the reason codes are short; descriptions name fields, never values).
MAX_REASON_LENGTH = 128
MAX_DESCRIPTION_LENGTH = 1024

#: The reason a copy without the app's reason property is dead-lettered with (nothing the app
#: sends lacks it; anything else put on the queue by hand still leaves the queue).
UNKNOWN_REASON = "quarantined"


@dataclass(frozen=True)
class Rejected:
    """A message the trigger rejected, with what the delivery said about it."""

    body: bytes
    source: EntityRef
    reason: str
    description: str
    message_id: str | None = None
    sequence_number: int | None = None
    enqueued_time: datetime | None = None
    delivery_count: int | None = None
    content_type: str | None = None
    subject: str | None = None
    correlation_id: str | None = None
    application_properties: Mapping[str, PropertyValue] = field(default_factory=dict)


# -- pure --------------------------------------------------------------------------------------


def quarantine_id(source: EntityRef, sequence_number: int | None, message_id: str | None) -> str:
    """The copy's message id: the same for every delivery of one message on one entity (the
    sequence number is the broker's and never changes; the message id is the sender's and may
    repeat), so the queue's duplicate detection keeps one copy."""
    identity = f"{source.path.lower()}#{sequence_number if sequence_number is not None else message_id}"
    return "q-" + hashlib.sha256(identity.encode()).hexdigest()[:40]


def quarantine_copy(rejected: Rejected) -> OutgoingMessage:
    """What is sent to the quarantine queue for a rejected message."""
    props: dict[str, PropertyValue] = {
        k: v for k, v in rejected.application_properties.items() if k not in QUARANTINE_PROPERTIES
    }
    props[ORIGINAL_MESSAGE_ID] = str(props.get(ORIGINAL_MESSAGE_ID) or rejected.message_id or "")
    if not props[ORIGINAL_MESSAGE_ID]:
        del props[ORIGINAL_MESSAGE_ID]
    props[DEAD_LETTER_REASON] = rejected.reason[:MAX_REASON_LENGTH]
    props[DEAD_LETTER_DESCRIPTION] = rejected.description[:MAX_DESCRIPTION_LENGTH]
    props[SOURCE_ENTITY] = rejected.source.path
    if rejected.sequence_number is not None:
        props[SOURCE_SEQUENCE_NUMBER] = rejected.sequence_number
    if rejected.enqueued_time is not None:
        when = rejected.enqueued_time
        props[SOURCE_ENQUEUED_TIME] = (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()
    if rejected.delivery_count is not None:
        props[SOURCE_DELIVERY_COUNT] = rejected.delivery_count
    return OutgoingMessage(
        body=rejected.body,
        message_id=quarantine_id(rejected.source, rejected.sequence_number, rejected.message_id),
        content_type=rejected.content_type,
        subject=rejected.subject,
        correlation_id=rejected.correlation_id,
        application_properties=props,
    )


def verdict(message: ReceivedMessage) -> tuple[str, str]:
    """The reason and description a quarantined copy is dead-lettered with: its own."""
    reason = message.application_properties.get(DEAD_LETTER_REASON)
    description = message.application_properties.get(DEAD_LETTER_DESCRIPTION)
    return (
        str(reason)[:MAX_REASON_LENGTH] if reason not in (None, "") else UNKNOWN_REASON,
        str(description)[:MAX_DESCRIPTION_LENGTH] if description is not None else "",
    )


def quarantined_reason(message: ReceivedMessage) -> str | None:
    """The app's reason recorded on a quarantine copy (also when Service Bus dead-lettered the
    copy itself, e.g. MaxDeliveryCountExceeded after draining kept failing)."""
    reason = message.application_properties.get(DEAD_LETTER_REASON)
    return str(reason) if reason not in (None, "") else None


# -- the port's calls --------------------------------------------------------------------------


async def drain(
    bus: QueueBus,
    *,
    max_wait: float = 1.0,
    batch: int = 20,
    max_messages: int = 500,
    queue: str = QUARANTINE_QUEUE,
) -> int:
    """Dead-letter what is in the quarantine queue, each with its own reason; returns how many.
    Waits up to `max_wait` s for the first message, then takes what is there. (`queue`: another
    queue, for the live test against a scratch queue.)"""
    done = 0
    async with bus.queue_receiver(queue) as receiver:
        wait = max_wait
        while done < max_messages:
            got = await receiver.receive(max_count=min(batch, max_messages - done), max_wait=wait)
            if not got:
                break
            for message in got:
                reason, description = verdict(message)
                await receiver.dead_letter(message, reason=reason, description=description)
                done += 1
                telemetry.log_event(
                    log,
                    "quarantined message dead-lettered",
                    reason=reason,
                    message_id=message.application_properties.get(ORIGINAL_MESSAGE_ID, message.message_id),
                    source=message.application_properties.get(SOURCE_ENTITY),
                )
            wait = 0.2  # what arrived meanwhile, without waiting for more
    return done


async def quarantine(
    bus: QueueBus, rejected: Rejected, *, max_wait: float = 5.0, queue: str = QUARANTINE_QUEUE
) -> bool:
    """Send the copy (raises if the bus did not accept it), then drain the queue. True when the
    drain ran; False when it failed (logged; the copy waits for the timer's drain)."""
    await bus.send(queue, [quarantine_copy(rejected)])
    try:
        # One batch: under a flood of rejections each invocation drains about its own share,
        # and none holds its original's lock for long.
        await drain(bus, max_wait=max_wait, queue=queue, max_messages=20)
    except Exception as exc:
        telemetry.log_event(
            log,
            "quarantine drain failed; the copy waits in the queue for the timer's drain",
            level=logging.WARNING,
            queue=queue,
            error=type(exc).__name__,
        )
        return False
    return True


__all__ = [
    "MAX_DESCRIPTION_LENGTH",
    "MAX_REASON_LENGTH",
    "QUARANTINE_QUEUE",
    "UNKNOWN_REASON",
    "Rejected",
    "drain",
    "quarantine",
    "quarantine_copy",
    "quarantine_id",
    "quarantined_reason",
    "verdict",
]

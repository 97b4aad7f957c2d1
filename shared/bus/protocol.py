"""The `bus` protocol: Service Bus operations that are not triggers.

Implemented by the local embedded broker (`local/host/broker`) and by `azure-servicebus` for
production (`shared.bus.servicebus`). Senders (the Commerce sandbox, the webhook, replay), the DLQ
tooling and tests use only this protocol.

- `BusSender`: send to a topic or queue.
- `DeadLetterBus`: a `BusSender` that can also peek an entity's dead-letter sub-queue and open a
  peek-lock receiver on it (for replay and purge). Settling a dead letter needs the receiver that
  locked it (azure-servicebus settles over the receiving link), hence the receiver object.
- `QueueBus`: a `BusSender` that can also open a peek-lock receiver on a queue's *active*
  messages and dead-letter them with a reason of its choosing (the quarantine, shared/bus/quarantine.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

PropertyValue = str | int | float | bool

#: Application property that targets one subscription of a topic (see docs/bus.md, "Replay").
#: Every subscription carries the rule "absent, or equal to my name", so a message carrying the
#: property reaches exactly the subscription it names.
TARGET_SUBSCRIPTION_PROPERTY = "x-target-subscription"


def targeting_sql_filter(subscription: str) -> str:
    """The Service Bus SQL filter that gives `subscription` the targeting rule in Azure (it replaces
    the `$Default` TrueFilter rule; correlation filters cannot say "absent")."""
    name = subscription.replace("'", "''")
    prop = f"[{TARGET_SUBSCRIPTION_PROPERTY}]"
    return f"NOT EXISTS({prop}) OR {prop} = '{name}'"


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to send; fields mirror `azure.servicebus.ServiceBusMessage`."""

    body: bytes
    message_id: str | None = None
    content_type: str | None = "application/json"
    subject: str | None = None
    correlation_id: str | None = None
    session_id: str | None = None
    to: str | None = None
    reply_to: str | None = None
    partition_key: str | None = None
    application_properties: dict[str, PropertyValue] = field(default_factory=dict)
    scheduled_enqueue_time: datetime | None = None
    time_to_live: timedelta | None = None


@dataclass(frozen=True)
class EntityRef:
    """A receivable entity: a queue (`subscription is None`) or a topic's subscription."""

    name: str
    subscription: str | None = None

    @classmethod
    def parse(cls, text: str) -> EntityRef:
        """`queue`, `topic/subscription` or Service Bus's `topic/Subscriptions/subscription`."""
        parts = [p for p in text.strip("/").split("/") if p]
        if len(parts) == 1:
            return cls(parts[0])
        if len(parts) == 2:
            return cls(parts[0], parts[1])
        if len(parts) == 3 and parts[1].lower() == "subscriptions":
            return cls(parts[0], parts[2])
        raise ValueError(f"not an entity path: {text!r} (use 'queue' or 'topic/subscription')")

    @property
    def path(self) -> str:
        """Service Bus's entity path, e.g. `commerce-events/Subscriptions/teams-sync`."""
        return self.name if self.subscription is None else f"{self.name}/Subscriptions/{self.subscription}"

    def __str__(self) -> str:
        return self.path


@dataclass(frozen=True)
class ReceivedMessage:
    """A message as a receiver sees it, with application properties already decoded to `str`
    (azure-servicebus returns bytes keys and values: Azure/azure-sdk-for-python#45082)."""

    body: bytes
    message_id: str
    sequence_number: int
    enqueued_time: datetime
    delivery_count: int
    entity: EntityRef
    dead_lettered: bool = False
    content_type: str | None = None
    subject: str | None = None
    correlation_id: str | None = None
    session_id: str | None = None
    to: str | None = None
    reply_to: str | None = None
    reply_to_session_id: str | None = None
    partition_key: str | None = None
    application_properties: Mapping[str, PropertyValue] = field(default_factory=dict)
    time_to_live: timedelta | None = None
    expires_at: datetime | None = None
    scheduled_enqueue_time: datetime | None = None
    dead_letter_reason: str | None = None
    dead_letter_error_description: str | None = None
    dead_letter_source: str | None = None
    lock_token: str | None = None  # None when peeked
    locked_until: datetime | None = None


@runtime_checkable
class BusSender(Protocol):
    async def send(self, entity: str, messages: Sequence[OutgoingMessage]) -> None:
        """Send to a topic or queue by name. Returns once the bus has accepted every message."""
        ...


class DeadLetterReceiver(Protocol):
    """A peek-lock receiver on one entity's dead-letter sub-queue. Closing it releases the locks
    of messages it did not settle."""

    async def receive(self, max_count: int = 10, max_wait: float = 1.0) -> list[ReceivedMessage]:
        """Lock and return up to `max_count` dead letters; waits at most `max_wait` s for the first."""
        ...

    async def complete(self, message: ReceivedMessage) -> None:
        """Remove a locked dead letter for good."""
        ...

    async def abandon(self, message: ReceivedMessage) -> None:
        """Release the lock; the dead letter stays where it is."""
        ...


@runtime_checkable
class DeadLetterBus(BusSender, Protocol):
    async def peek_dead_letters(
        self, entity: EntityRef, *, max_count: int = 100, from_sequence_number: int = 0
    ) -> list[ReceivedMessage]:
        """Dead letters of `entity` in sequence order, starting at `from_sequence_number`;
        nothing is locked and nothing changes."""
        ...

    def dead_letter_receiver(self, entity: EntityRef) -> AbstractAsyncContextManager[DeadLetterReceiver]:
        """`async with bus.dead_letter_receiver(entity) as receiver: ...`"""
        ...


class QueueReceiver(DeadLetterReceiver, Protocol):
    """A peek-lock receiver on a queue's active messages; it can also dead-letter what it locked."""

    async def dead_letter(self, message: ReceivedMessage, *, reason: str, description: str) -> None:
        """Move a locked message to the queue's dead-letter sub-queue with this DeadLetterReason and
        DeadLetterErrorDescription (azure-servicebus `dead_letter_message(reason=, error_description=)`)."""
        ...


@runtime_checkable
class QueueBus(BusSender, Protocol):
    def queue_receiver(self, queue: str) -> AbstractAsyncContextManager[QueueReceiver]:
        """`async with bus.queue_receiver(name) as receiver: ...`; closing it abandons what it
        did not settle."""
        ...

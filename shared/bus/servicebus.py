"""The bus protocol on Azure Service Bus (`azure-servicebus`, async).

`ServiceBus` implements `BusSender`, `DeadLetterBus` and `QueueBus`. What the SDK does not do for us:
- received application properties have bytes keys and string values
  (Azure/azure-sdk-for-python#45082): `decode_properties` turns them into `str`;
- a body arrives as a generator of sections: `b"".join(message.body)`;
- a copy keeps nothing by itself: `to_sdk_message` sets every broker property by hand;
- a session entity's dead-letter queue is read with a plain (non-session) receiver.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusSubQueue

from .protocol import EntityRef, OutgoingMessage, PropertyValue, ReceivedMessage

# Service Bus keeps these two as application properties of a dead letter; we surface them as
# fields and leave them out of `application_properties` (a replay copy must not carry them).
_DEAD_LETTER_PROPERTIES = frozenset({"DeadLetterReason", "DeadLetterErrorDescription"})


def _text(value: Any) -> Any:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes | bytearray) else value


def decode_properties(raw: Mapping[Any, Any] | None) -> dict[str, PropertyValue]:
    """Application properties as the SDK returns them (bytes keys and values) → `str` keys;
    bytes values decoded, numbers and booleans kept, anything else (uuid, datetime) as text."""
    decoded: dict[str, PropertyValue] = {}
    for key, value in (raw or {}).items():
        name = str(_text(key))
        if name in _DEAD_LETTER_PROPERTIES:
            continue
        value = _text(value)
        if value is None:
            continue
        decoded[name] = value if isinstance(value, str | int | float | bool) else str(value)
    return decoded


def body_bytes(message: ServiceBusReceivedMessage) -> bytes:
    """The body of a data-section message as one bytes object (the usual case); a value or
    sequence body (sent by AMQP clients other than Service Bus SDKs) as its text."""
    body = message.body
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    try:
        return b"".join(body)
    except TypeError:
        return str(body).encode()


def to_sdk_message(message: OutgoingMessage) -> ServiceBusMessage:
    """Every property of `OutgoingMessage`, set explicitly (nothing is copied implicitly)."""
    return ServiceBusMessage(
        body=message.body,
        message_id=message.message_id or uuid.uuid4().hex,
        content_type=message.content_type,
        subject=message.subject,
        correlation_id=message.correlation_id,
        session_id=message.session_id,
        to=message.to,
        reply_to=message.reply_to,
        partition_key=message.partition_key,
        application_properties=dict(message.application_properties) or None,  # type: ignore[arg-type]
        scheduled_enqueue_time_utc=message.scheduled_enqueue_time,
        time_to_live=message.time_to_live,
    )


def from_sdk_message(
    message: ServiceBusReceivedMessage, entity: EntityRef, *, dead_lettered: bool, peeked: bool = False
) -> ReceivedMessage:
    """A received (or peeked) SDK message as the protocol's `ReceivedMessage`."""
    return ReceivedMessage(
        body=body_bytes(message),
        message_id=str(message.message_id or ""),
        sequence_number=int(message.sequence_number or 0),
        enqueued_time=message.enqueued_time_utc or dt.datetime.fromtimestamp(0, dt.UTC),
        delivery_count=int(message.delivery_count or 0),
        entity=entity,
        dead_lettered=dead_lettered,
        content_type=message.content_type,
        subject=message.subject,
        correlation_id=message.correlation_id,
        session_id=message.session_id,
        to=message.to,
        reply_to=message.reply_to,
        reply_to_session_id=message.reply_to_session_id,
        partition_key=message.partition_key,
        application_properties=decode_properties(message.application_properties),
        time_to_live=message.time_to_live,
        expires_at=message.expires_at_utc,
        scheduled_enqueue_time=message.scheduled_enqueue_time_utc,
        dead_letter_reason=message.dead_letter_reason,
        dead_letter_error_description=message.dead_letter_error_description,
        dead_letter_source=message.dead_letter_source,
        lock_token=None if peeked or message.lock_token is None else str(message.lock_token),
        locked_until=None if peeked else message.locked_until_utc,
    )


class _Sender(Protocol):
    async def send_messages(self, message: Any) -> None: ...
    async def close(self) -> None: ...


class _Receiver(Protocol):
    async def receive_messages(
        self, max_message_count: int | None = ..., max_wait_time: float | None = ...
    ) -> Any: ...
    async def peek_messages(self, max_message_count: int = ..., *, sequence_number: int = ...) -> Any: ...
    async def complete_message(self, message: Any) -> None: ...
    async def abandon_message(self, message: Any) -> None: ...
    async def dead_letter_message(
        self, message: Any, reason: str | None = ..., error_description: str | None = ...
    ) -> None: ...
    async def close(self) -> None: ...


class _Client(Protocol):
    """The part of `azure.servicebus.aio.ServiceBusClient` used here (tests pass a recording one)."""

    def get_queue_sender(self, queue_name: str, **kwargs: Any) -> Any: ...
    def get_queue_receiver(self, queue_name: str, **kwargs: Any) -> Any: ...
    def get_subscription_receiver(self, topic_name: str, subscription_name: str, **kwargs: Any) -> Any: ...
    async def close(self) -> None: ...


class ServiceBus:
    """`BusSender` + `DeadLetterBus` on an `azure.servicebus.aio.ServiceBusClient`."""

    def __init__(self, client: _Client, *, credential: Any = None) -> None:
        self._client = client
        self._credential = credential
        self._senders: dict[str, _Sender] = {}

    @classmethod
    def from_connection_string(cls, connection_string: str) -> ServiceBus:
        from azure.servicebus.aio import ServiceBusClient

        return cls(ServiceBusClient.from_connection_string(connection_string))

    @classmethod
    def from_namespace(cls, fully_qualified_namespace: str, credential: Any = None) -> ServiceBus:
        """Managed identity / developer sign-in through `DefaultAzureCredential` unless given one."""
        from azure.identity.aio import DefaultAzureCredential
        from azure.servicebus.aio import ServiceBusClient

        owned = credential is None
        credential = credential or DefaultAzureCredential()
        return cls(
            ServiceBusClient(fully_qualified_namespace, credential), credential=credential if owned else None
        )

    @classmethod
    def from_setting(cls, value: str) -> ServiceBus:
        """From a Functions connection setting: a connection string, or a namespace host name
        (identity-based connection, `<name>__fullyQualifiedNamespace`)."""
        if "Endpoint=" in value:
            return cls.from_connection_string(value)
        return cls.from_namespace(value)

    async def close(self) -> None:
        for sender in self._senders.values():
            await sender.close()
        self._senders.clear()
        await self._client.close()
        if self._credential is not None:
            await self._credential.close()

    async def __aenter__(self) -> ServiceBus:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    # -- BusSender --------------------------------------------------------------------------

    async def send(self, entity: str, messages: Sequence[OutgoingMessage]) -> None:
        if not messages:
            return
        sender = self._senders.get(entity)
        if sender is None:
            # A queue sender and a topic sender are the same AMQP link to the entity's address.
            sender = self._senders[entity] = self._client.get_queue_sender(queue_name=entity)
        await sender.send_messages([to_sdk_message(m) for m in messages])

    # -- DeadLetterBus ----------------------------------------------------------------------

    def _dead_letter_sdk_receiver(self, entity: EntityRef) -> _Receiver:
        # A plain receiver, also for session entities: a DLQ has no sessions.
        if entity.subscription is None:
            receiver: _Receiver = self._client.get_queue_receiver(
                queue_name=entity.name, sub_queue=ServiceBusSubQueue.DEAD_LETTER, prefetch_count=0
            )
        else:
            receiver = self._client.get_subscription_receiver(
                topic_name=entity.name,
                subscription_name=entity.subscription,
                sub_queue=ServiceBusSubQueue.DEAD_LETTER,
                prefetch_count=0,
            )
        return receiver

    async def peek_dead_letters(
        self, entity: EntityRef, *, max_count: int = 100, from_sequence_number: int = 0
    ) -> list[ReceivedMessage]:
        receiver = self._dead_letter_sdk_receiver(entity)
        try:
            peeked = await receiver.peek_messages(max_count, sequence_number=from_sequence_number)
        finally:
            await receiver.close()
        return [from_sdk_message(m, entity, dead_lettered=True, peeked=True) for m in peeked]

    @asynccontextmanager
    async def dead_letter_receiver(self, entity: EntityRef) -> AsyncIterator[SdkDeadLetterReceiver]:
        receiver = SdkDeadLetterReceiver(self._dead_letter_sdk_receiver(entity), entity)
        try:
            yield receiver
        finally:
            await receiver.close()

    # -- QueueBus ---------------------------------------------------------------------------

    @asynccontextmanager
    async def queue_receiver(self, queue: str) -> AsyncIterator[SdkQueueReceiver]:
        """Peek-lock (the SDK's default receive mode) on the queue's active messages; no prefetch,
        so nothing is locked that this receiver does not hand out."""
        entity = EntityRef(queue)
        receiver = SdkQueueReceiver(
            self._client.get_queue_receiver(queue_name=queue, prefetch_count=0), entity
        )
        try:
            yield receiver
        finally:
            await receiver.close()


class SdkDeadLetterReceiver:
    """`DeadLetterReceiver` over an SDK receiver: settles the SDK message it received (settlement
    goes over the receiving link, so it must be the same receiver object)."""

    _sub_queue = True  # what it receives: a dead-letter sub-queue

    def __init__(self, receiver: _Receiver, entity: EntityRef) -> None:
        self._receiver = receiver
        self._entity = entity
        self._held: dict[str, ServiceBusReceivedMessage] = {}

    async def receive(self, max_count: int = 10, max_wait: float = 1.0) -> list[ReceivedMessage]:
        got: Iterable[ServiceBusReceivedMessage] = await self._receiver.receive_messages(
            max_message_count=max_count, max_wait_time=max_wait
        )
        out = []
        for sdk in got:
            message = from_sdk_message(sdk, self._entity, dead_lettered=self._sub_queue)
            if message.lock_token is not None:
                self._held[message.lock_token] = sdk
            out.append(message)
        return out

    def _sdk(self, message: ReceivedMessage) -> ServiceBusReceivedMessage:
        sdk = self._held.get(message.lock_token or "")
        if sdk is None:
            raise ValueError(
                f"message {message.sequence_number} was not received (or was settled) by this receiver"
            )
        return sdk

    async def complete(self, message: ReceivedMessage) -> None:
        # Held until settled: if completing fails, closing the receiver releases the lock.
        await self._receiver.complete_message(self._sdk(message))
        self._held.pop(message.lock_token or "", None)

    async def abandon(self, message: ReceivedMessage) -> None:
        await self._receiver.abandon_message(self._sdk(message))
        self._held.pop(message.lock_token or "", None)

    async def close(self) -> None:
        try:
            for sdk in list(self._held.values()):
                try:
                    await self._receiver.abandon_message(sdk)
                except Exception:  # the lock may be gone; it expires by itself anyway
                    pass
            self._held.clear()
        finally:
            await self._receiver.close()


class SdkQueueReceiver(SdkDeadLetterReceiver):
    """`QueueReceiver` over an SDK receiver on a queue's active messages."""

    _sub_queue = False

    async def dead_letter(self, message: ReceivedMessage, *, reason: str, description: str) -> None:
        # Service Bus stores both as the dead letter's DeadLetterReason / DeadLetterErrorDescription
        # (https://learn.microsoft.com/azure/service-bus-messaging/service-bus-dead-letter-queues#application-level-dead-lettering).
        await self._receiver.dead_letter_message(
            self._sdk(message), reason=reason, error_description=description
        )
        self._held.pop(message.lock_token or "", None)

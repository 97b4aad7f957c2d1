"""The bus protocol on azure-servicebus, exercised with the SDK's own message types.

No namespace is needed here: received messages are built from the SDK's AMQP message type (as the
receiver builds them from the wire), and the client is a recording stand-in for
`azure.servicebus.aio.ServiceBusClient`. What only a live namespace can show (rules on real
subscriptions, real settlement, lock behaviour) is in `test_live_servicebus` below, skipped
unless CTS_LIVE_SERVICEBUS holds a connection string.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusSubQueue
from azure.servicebus._pyamqp.message import Header, Message, Properties

from shared.bus.protocol import (
    TARGET_SUBSCRIPTION_PROPERTY,
    DeadLetterBus,
    EntityRef,
    OutgoingMessage,
    QueueBus,
)
from shared.bus.quarantine import QUARANTINE_QUEUE, Rejected, quarantine, quarantine_copy
from shared.bus.replay import ORIGINAL_MESSAGE_ID, REPLAY_COUNT, DeadLetterFilter, replay_dead_letters
from shared.bus.servicebus import ServiceBus, decode_properties, from_sdk_message, to_sdk_message

SUB = EntityRef("commerce-events", "teams-sync")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def received(
    seq: int = 7,
    *,
    body: list[bytes] | None = None,
    props: dict[Any, Any] | None = None,
    session: bytes | None = None,
    enqueued: datetime = T0,
) -> ServiceBusReceivedMessage:
    """A dead letter as the SDK's receiver builds it: bytes everywhere (#45082)."""
    ms = int(enqueued.timestamp() * 1000)
    amqp = Message(
        header=Header(delivery_count=3, ttl=3_600_000),
        message_annotations={
            b"x-opt-sequence-number": seq,
            b"x-opt-enqueued-time": ms,
            b"x-opt-locked-until": ms + 30_000,
        },
        properties=Properties(
            message_id=f"m{seq}".encode(),
            content_type=b"application/json",
            subject=b"store",
            correlation_id=b"c-1",
            to=b"teams",
            reply_to=b"replies",
            group_id=session,
        ),
        application_properties=props
        if props is not None
        else {
            b"BusinessEventId": b"RetailStoreChanged",
            b"n": 3,
            b"flag": True,
            b"DeadLetterReason": b"InvalidJson",
            b"DeadLetterErrorDescription": b"body is not JSON",
        },
        data=body or [b'{"a":', b"1}"],
    )
    return ServiceBusReceivedMessage(amqp, receiver=None, lock_token=uuid.uuid4())


def test_bytes_properties_are_decoded_and_dead_letter_fields_split_out() -> None:
    assert decode_properties(
        {
            b"k": b"v",
            "s": "t",
            b"n": 3,
            b"f": 1.5,
            b"b": False,
            b"u": uuid.UUID(int=1),
            b"DeadLetterReason": b"R",
            b"none": None,
        }
    ) == {"k": "v", "s": "t", "n": 3, "f": 1.5, "b": False, "u": "00000000-0000-0000-0000-000000000001"}
    assert decode_properties(None) == {}


def test_a_received_sdk_message_becomes_a_received_message_with_every_property() -> None:
    sdk = received(session=b"store-0042")
    assert sdk.application_properties[b"BusinessEventId"] == b"RetailStoreChanged"  # the SDK pitfall itself
    m = from_sdk_message(sdk, SUB, dead_lettered=True)
    assert m.body == b'{"a":1}'
    assert (m.message_id, m.sequence_number, m.delivery_count, m.enqueued_time) == ("m7", 7, 3, T0)
    assert (m.content_type, m.subject, m.correlation_id, m.to, m.reply_to, m.session_id) == (
        "application/json",
        "store",
        "c-1",
        "teams",
        "replies",
        "store-0042",
    )
    assert dict(m.application_properties) == {"BusinessEventId": "RetailStoreChanged", "n": 3, "flag": True}
    assert (m.dead_letter_reason, m.dead_letter_error_description) == ("InvalidJson", "body is not JSON")
    assert m.time_to_live == timedelta(hours=1) and m.expires_at == T0 + timedelta(hours=1)
    assert m.lock_token == str(sdk.lock_token) and m.locked_until == T0 + timedelta(seconds=30)
    assert from_sdk_message(sdk, SUB, dead_lettered=True, peeked=True).lock_token is None


def test_an_outgoing_message_sets_every_broker_property_by_hand() -> None:
    out = OutgoingMessage(
        body=b"{}",
        message_id="new",
        subject="s",
        correlation_id="c",
        session_id="sess",
        to="t",
        reply_to="r",
        partition_key="sess",
        application_properties={"k": "v", "n": 1},
        scheduled_enqueue_time=T0,
        time_to_live=timedelta(minutes=5),
    )
    sdk = to_sdk_message(out)
    assert isinstance(sdk, ServiceBusMessage)
    assert b"".join(sdk.body) == b"{}"
    assert (
        sdk.message_id,
        sdk.subject,
        sdk.correlation_id,
        sdk.session_id,
        sdk.to,
        sdk.reply_to,
        sdk.partition_key,
        sdk.content_type,
    ) == ("new", "s", "c", "sess", "t", "r", "sess", "application/json")
    assert sdk.application_properties == {"k": "v", "n": 1}
    assert sdk.scheduled_enqueue_time_utc == T0 and sdk.time_to_live == timedelta(minutes=5)
    assert to_sdk_message(OutgoingMessage(body=b"")).message_id  # never sent without an id


class Recorder:
    """Stands in for `azure.servicebus.aio.ServiceBusClient`; records every call in order."""

    def __init__(self, dead_letters: list[ServiceBusReceivedMessage]) -> None:
        self.log: list[tuple[Any, ...]] = []
        self.dead_letters = dead_letters

    def get_queue_sender(self, queue_name: str, **kwargs: Any) -> Any:
        recorder = self

        class Sender:
            async def send_messages(self, messages: list[ServiceBusMessage]) -> None:
                recorder.log.append(("send", queue_name, messages))

            async def close(self) -> None:
                recorder.log.append(("close sender", queue_name))

        return Sender()

    def get_queue_receiver(self, queue_name: str, **kwargs: Any) -> Any:
        return self._receiver(("queue", queue_name), kwargs)

    def get_subscription_receiver(self, topic_name: str, subscription_name: str, **kwargs: Any) -> Any:
        return self._receiver(("subscription", topic_name, subscription_name), kwargs)

    def _receiver(self, entity: tuple[str, ...], kwargs: dict[str, Any]) -> Any:
        recorder = self
        self.log.append(("open receiver", entity, kwargs))

        class Receiver:
            handed_out = False

            async def receive_messages(
                self, max_message_count: int | None = 1, max_wait_time: float | None = None
            ) -> list[ServiceBusReceivedMessage]:
                if self.handed_out:
                    return []
                self.handed_out = True
                return recorder.dead_letters[: max_message_count or 1]

            async def peek_messages(
                self, max_message_count: int = 1, *, sequence_number: int = 0
            ) -> list[ServiceBusReceivedMessage]:
                return [m for m in recorder.dead_letters if (m.sequence_number or 0) >= sequence_number][
                    :max_message_count
                ]

            async def complete_message(self, message: ServiceBusReceivedMessage) -> None:
                recorder.log.append(("complete", message.sequence_number))

            async def abandon_message(self, message: ServiceBusReceivedMessage) -> None:
                recorder.log.append(("abandon", message.sequence_number))

            async def dead_letter_message(
                self,
                message: ServiceBusReceivedMessage,
                reason: str | None = None,
                error_description: str | None = None,
            ) -> None:
                recorder.log.append(("dead letter", message.sequence_number, reason, error_description))

            async def close(self) -> None:
                recorder.log.append(("close receiver",))

        return Receiver()

    async def close(self) -> None:
        self.log.append(("close client",))


def test_the_sdk_bus_implements_the_protocol() -> None:
    assert isinstance(ServiceBus(Recorder([])), DeadLetterBus)
    assert isinstance(ServiceBus(Recorder([])), QueueBus)


async def test_the_quarantine_on_service_bus_sends_then_dead_letters_with_the_apps_reason() -> None:
    """The calls Azure gets for a rejected message (shared/bus/quarantine.py): send the copy to
    cts-quarantine, then peek-lock receive there (no sub-queue, no prefetch) and
    `dead_letter_message(reason=<its cts-dead-letter-reason>, error_description=...)`."""
    waiting = received(
        41,
        props={
            b"cts-dead-letter-reason": b"not_json",
            b"cts-dead-letter-description": b"the body is not JSON",
            b"cts-source-entity": b"commerce-events/Subscriptions/teams-sync",
        },
    )
    client = Recorder([waiting])
    bus = ServiceBus(client)
    rejected = Rejected(
        body=b"not json",
        source=SUB,
        reason="not_json",
        description="the body is not JSON",
        message_id="m1",
        sequence_number=12,
        delivery_count=1,
        application_properties={"BusinessEventId": "X"},
    )
    assert await quarantine(bus, rejected) is True
    await bus.close()
    kinds = [entry[0] for entry in client.log]
    assert kinds == ["send", "open receiver", "dead letter", "close receiver", "close sender", "close client"]
    _, queue, [copy] = client.log[0]
    assert queue == QUARANTINE_QUEUE and isinstance(copy, ServiceBusMessage)
    assert copy.message_id == quarantine_copy(rejected).message_id != "m1"
    assert copy.application_properties["cts-dead-letter-reason"] == "not_json"
    assert copy.application_properties["cts-source-entity"] == SUB.path
    assert copy.application_properties["BusinessEventId"] == "X"
    _, entity, options = client.log[1]
    assert entity == ("queue", QUARANTINE_QUEUE) and options == {"prefetch_count": 0}
    assert client.log[2] == ("dead letter", 41, "not_json", "the body is not JSON")


async def test_replay_on_service_bus_sends_the_copy_before_completing_the_dead_letter() -> None:
    client = Recorder([received(7, session=b"store-0042"), received(8, props={b"x-replay-count": 3})])
    bus = ServiceBus(client)
    summary = await replay_dead_letters(
        bus, SUB, dry_run=False, max_replays=3, clock=lambda: T0 + timedelta(1)
    )
    await bus.close()
    assert (summary.done, summary.refused) == (1, 1)
    kinds = [entry[0] for entry in client.log]
    assert kinds == [
        "open receiver",
        "send",
        "complete",
        "abandon",
        "close receiver",
        "close sender",
        "close client",
    ]
    _, entity, options = client.log[0]
    assert entity == ("subscription", "commerce-events", "teams-sync")
    assert options["sub_queue"] == ServiceBusSubQueue.DEAD_LETTER and "session_id" not in options
    _, send_entity, [copy] = client.log[1]
    assert send_entity == "commerce-events"
    assert isinstance(copy, ServiceBusMessage)
    assert copy.message_id != "m7" and copy.session_id == "store-0042"
    assert copy.application_properties[TARGET_SUBSCRIPTION_PROPERTY] == "teams-sync"
    assert copy.application_properties[ORIGINAL_MESSAGE_ID] == "m7"
    assert copy.application_properties[REPLAY_COUNT] == 1
    assert "DeadLetterReason" not in copy.application_properties
    assert client.log[2] == ("complete", 7) and client.log[3] == ("abandon", 8)  # refused one released


async def test_a_dry_run_on_service_bus_only_peeks() -> None:
    client = Recorder([received(7), received(8)])
    summary = await replay_dead_letters(
        ServiceBus(client), SUB, DeadLetterFilter(limit=1), clock=lambda: T0 + timedelta(1)
    )
    assert summary.done == 1 and summary.dry_run
    assert {entry[0] for entry in client.log} == {"open receiver", "close receiver"}


@pytest.mark.skipif(
    not os.environ.get("CTS_LIVE_SERVICEBUS"),
    reason="needs a namespace: CTS_LIVE_SERVICEBUS=<connection string>, "
    "CTS_LIVE_SERVICEBUS_QUEUE=<a scratch queue>",
)
async def test_live_servicebus_dead_letter_round_trip() -> None:  # pragma: no cover - live only
    """Against a real namespace: send, dead-letter, peek it with decoded properties, replay it."""
    from azure.servicebus.aio import ServiceBusClient

    queue = os.environ.get("CTS_LIVE_SERVICEBUS_QUEUE", "cts-live-test")
    bus = ServiceBus.from_connection_string(os.environ["CTS_LIVE_SERVICEBUS"])
    marker = uuid.uuid4().hex
    await bus.send(queue, [OutgoingMessage(body=b"{}", application_properties={"marker": marker})])
    async with ServiceBusClient.from_connection_string(os.environ["CTS_LIVE_SERVICEBUS"]) as client:
        async with client.get_queue_receiver(queue) as receiver:
            for m in await receiver.receive_messages(max_message_count=10, max_wait_time=10):
                if decode_properties(m.application_properties).get("marker") == marker:
                    await receiver.dead_letter_message(
                        m, reason="LiveTest", error_description="dead on purpose"
                    )
    ref = EntityRef(queue)
    found = [m for m in await bus.peek_dead_letters(ref) if m.application_properties.get("marker") == marker]
    assert found and found[0].dead_letter_reason == "LiveTest"
    summary = await replay_dead_letters(
        bus,
        ref,
        DeadLetterFilter(sequence_numbers=frozenset({found[0].sequence_number})),
        dry_run=False,
        max_wait=5,
    )
    assert summary.done == 1
    await bus.close()


@pytest.mark.skipif(
    not os.environ.get("CTS_LIVE_SERVICEBUS"),
    reason="needs a namespace: CTS_LIVE_SERVICEBUS=<connection string>, "
    "CTS_LIVE_SERVICEBUS_QUEUE=<a scratch queue>",
)
async def test_live_quarantine_dead_letters_with_the_apps_reason() -> None:  # pragma: no cover - live only
    """Against a real namespace, the app's own calls: the copy is in the queue's DLQ with our
    DeadLetterReason and DeadLetterErrorDescription, after one receive."""
    queue = os.environ.get("CTS_LIVE_SERVICEBUS_QUEUE", "cts-live-test")
    bus = ServiceBus.from_connection_string(os.environ["CTS_LIVE_SERVICEBUS"])
    marker = uuid.uuid4().hex
    rejected = Rejected(
        body=b"not json",
        source=SUB,
        reason="not_json",
        description="the body is not JSON",
        message_id=marker,
        sequence_number=int(uuid.uuid4().int % 2**62),
        delivery_count=1,
    )
    try:
        assert await quarantine(bus, rejected, queue=queue, max_wait=10)
        found = [
            m
            for m in await bus.peek_dead_letters(EntityRef(queue))
            if m.application_properties.get(ORIGINAL_MESSAGE_ID) == marker
        ]
        assert [(m.dead_letter_reason, m.dead_letter_error_description, m.delivery_count) for m in found] == [
            ("not_json", "the body is not JSON", 1)
        ]
    finally:
        await bus.close()

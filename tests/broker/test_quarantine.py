"""The quarantine (shared/bus/quarantine.py) on the embedded broker: a rejected message is in a
dead-letter queue after one delivery with the app's reason and description; a redelivery makes no
second letter; any instance's drain gives each letter its own reason; a copy whose draining keeps
failing still carries the reason; a replay goes back to the source subscription."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from bus_testkit import SYNC, TOPIC, Clock, declare, open_broker

from local.host.broker import Broker, EntityNotFound
from shared.bus.protocol import EntityRef
from shared.bus.quarantine import QUARANTINE_QUEUE, Rejected, drain, quarantine, quarantine_copy
from shared.bus.replay import TARGET_SUBSCRIPTION_PROPERTY, replay_dead_letters
from shared.ops.dlq import app_reason, build_filter, list_all, view

QUEUE = EntityRef(QUARANTINE_QUEUE)


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    b = open_broker(tmp_path, Clock())
    await declare(b)
    await b.ensure_queue(
        QUARANTINE_QUEUE,
        max_delivery_count=3,
        duplicate_detection_window=timedelta(hours=1),
        dead_lettering_on_message_expiration=True,
    )
    yield b
    await b.close()


async def rejected_from(broker: Broker, body: bytes, reason: str, message_id: str) -> Rejected:
    """Deliver one message from the subscription, as the trigger gets it, and reject it."""
    from bus_testkit import msg

    await broker.send(TOPIC, [msg(body.decode(), message_id=message_id, application_properties={"k": "v"})])
    [delivery] = await broker.receive(SYNC)
    await broker.complete(delivery)  # what the host does when the trigger returns
    return Rejected(
        body=delivery.body,
        source=SYNC,
        reason=reason,
        description=f"{reason}: the description",
        message_id=delivery.message_id,
        sequence_number=delivery.sequence_number,
        enqueued_time=delivery.enqueued_time,
        delivery_count=delivery.delivery_count,
        content_type=delivery.content_type,
        application_properties=delivery.application_properties,
    )


async def test_a_rejected_message_is_dead_lettered_at_once_with_the_apps_reason(broker: Broker) -> None:
    rejected = await rejected_from(broker, b"not json", "not_json", "m1")
    assert await quarantine(broker, rejected, max_wait=0.5)
    [dead] = await broker.peek_dead_letters(QUEUE)
    assert (dead.dead_letter_reason, dead.dead_letter_error_description) == (
        "not_json",
        "not_json: the description",
    )
    assert dead.body == b"not json" and dead.application_properties["k"] == "v"
    assert dead.application_properties["cts-source-delivery-count"] == 1
    assert dead.application_properties["x-original-message-id"] == "m1"
    assert await broker.counts(QUEUE) == {"active": 0, "scheduled": 0, "locked": 0, "dead_letter": 1}
    assert await broker.counts(SYNC) == {"active": 0, "scheduled": 0, "locked": 0, "dead_letter": 0}
    assert app_reason(dead) == "not_json" and view(dead)["source_entity"] == SYNC.path


async def test_a_redelivered_rejection_makes_one_dead_letter(broker: Broker) -> None:
    rejected = await rejected_from(broker, b"not json", "not_json", "m1")
    await quarantine(broker, rejected, max_wait=0.5)
    await quarantine(broker, rejected, max_wait=0.1)  # the same delivery again (completion lost)
    assert len(await broker.peek_dead_letters(QUEUE)) == 1


async def test_any_instances_drain_gives_each_letter_its_own_reason(broker: Broker, tmp_path: Path) -> None:
    first = await rejected_from(broker, b"[1]", "not_an_object", "a")
    second = await rejected_from(broker, b"x", "not_json", "b")
    await broker.send(QUARANTINE_QUEUE, [quarantine_copy(first), quarantine_copy(second)])
    other = open_broker(tmp_path)  # another instance, on the same namespace
    try:
        assert await drain(other, max_wait=0.5) == 2
    finally:
        await other.close()
    dead = {
        m.application_properties["x-original-message-id"]: m for m in await broker.peek_dead_letters(QUEUE)
    }
    assert {k: m.dead_letter_reason for k, m in dead.items()} == {"a": "not_an_object", "b": "not_json"}


async def test_a_failed_send_raises_and_leaves_nothing(tmp_path: Path) -> None:
    b = open_broker(tmp_path, Clock())
    await declare(b)  # no quarantine queue: the send is refused, as Service Bus refuses it
    try:
        rejected = await rejected_from(b, b"x", "not_json", "m1")
        with pytest.raises(EntityNotFound):
            await quarantine(b, rejected)
        assert await b.peek_dead_letters(SYNC) == []
    finally:
        await b.close()


async def test_a_copy_whose_draining_keeps_failing_still_carries_the_reason(broker: Broker) -> None:
    rejected = await rejected_from(broker, b"x", "not_json", "m1")
    await broker.send(QUARANTINE_QUEUE, [quarantine_copy(rejected)])
    for _ in range(3):  # every drain dies before dead-lettering: Service Bus gives up
        [copy] = await broker.receive(QUEUE)
        await broker.abandon(copy)
    [dead] = await broker.peek_dead_letters(QUEUE)
    assert dead.dead_letter_reason == "MaxDeliveryCountExceeded"
    assert app_reason(dead) == "not_json"
    assert [m.message_id for m in await list_all(broker, [QUEUE], build_filter(reasons=["not_json"]))] == [
        dead.message_id
    ]


async def test_a_replayed_quarantine_letter_goes_back_to_its_subscription(broker: Broker) -> None:
    rejected = await rejected_from(broker, b"x", "not_json", "m1")
    await quarantine(broker, rejected, max_wait=0.5)
    summary = await replay_dead_letters(broker, QUEUE, dry_run=False, max_wait=0.2)
    assert summary.done == 1
    assert await broker.peek_dead_letters(QUEUE) == []
    [copy] = await broker.receive(SYNC)
    assert copy.body == b"x"
    props = copy.application_properties
    assert props[TARGET_SUBSCRIPTION_PROPERTY] == SYNC.subscription
    assert props["x-original-message-id"] == "m1" and props["x-original-dlq-reason"] == "not_json"
    assert props["x-replay-count"] == 1 and props["k"] == "v"
    assert not [k for k in props if k.startswith("cts-dead-letter") or k.startswith("cts-source")]
    audit = await broker.receive(EntityRef(TOPIC, "audit"), max_count=10)
    assert [m.message_id for m in audit] == ["m1"]  # the original only: the copy was not fanned out

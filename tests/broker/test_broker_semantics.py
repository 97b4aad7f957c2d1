"""The embedded broker behaves like Service Bus: peek-lock, delivery count, abandon, dead-lettering,
duplicate detection, scheduling, TTL, properties, fan-out, persistence."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bus_testkit import AUDIT, SYNC, TOPIC, Clock, declare, msg, open_broker

from local.host.broker import (
    MAX_DELIVERY_REASON,
    TTL_REASON,
    Broker,
    CorrelationRule,
    EntityNotFound,
    MessageLockLost,
    Subscription,
)
from shared.bus.protocol import BusSender, DeadLetterBus, EntityRef, OutgoingMessage


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def broker(tmp_path: Path, clock: Clock) -> AsyncIterator[Broker]:
    b = open_broker(tmp_path, clock)
    await declare(b)
    yield b
    await b.close()


async def test_broker_implements_the_bus_protocols(broker: Broker) -> None:
    assert isinstance(broker, BusSender)
    assert isinstance(broker, DeadLetterBus)


async def test_a_locked_message_is_invisible_until_its_lock_expires_which_counts_a_delivery(
    broker: Broker, clock: Clock
) -> None:
    await broker.send(TOPIC, [msg()])
    first = await broker.receive(SYNC)
    assert [m.delivery_count for m in first] == [1]
    assert await broker.receive(SYNC) == []
    clock.advance(29)
    assert await broker.receive(SYNC) == []
    clock.advance(2)
    again = await broker.receive(SYNC)
    assert [m.delivery_count for m in again] == [2]
    assert again[0].sequence_number == first[0].sequence_number
    with pytest.raises(MessageLockLost):
        await broker.complete(first[0])  # the old lock is gone
    await broker.complete(again[0])
    assert await broker.counts(SYNC) == {"active": 0, "scheduled": 0, "locked": 0, "dead_letter": 0}


async def test_abandon_makes_the_message_available_at_once_without_counting_twice(broker: Broker) -> None:
    await broker.send(TOPIC, [msg()])
    [m] = await broker.receive(SYNC)
    await broker.abandon(m)
    [again] = await broker.receive(SYNC)
    assert again.delivery_count == 2
    with pytest.raises(MessageLockLost):
        await broker.abandon(m)


async def test_max_delivery_count_dead_letters_with_azures_text_not_the_last_error(broker: Broker) -> None:
    await broker.send(TOPIC, [msg(message_id="poison")])
    for attempt in range(1, 4):
        [m] = await broker.receive(SYNC)
        assert m.delivery_count == attempt
        await broker.abandon(m, error=f"ValueError: attempt {attempt}")
    assert await broker.receive(SYNC) == []
    [dead] = await broker.peek_dead_letters(SYNC)
    assert dead.message_id == "poison"
    assert dead.dead_letter_reason == MAX_DELIVERY_REASON
    # Azure keeps neither the handler's error nor the abandon's text: only its own description.
    assert dead.dead_letter_error_description == "Message could not be consumed after 3 delivery attempts."
    assert dead.dead_lettered and dead.delivery_count == 3
    assert (await broker.counts(AUDIT))["active"] == 1  # the other subscription is unaffected


async def test_lock_expiry_on_the_last_delivery_dead_letters_too(broker: Broker, clock: Clock) -> None:
    await broker.send(TOPIC, [msg()])
    for _ in range(3):
        assert len(await broker.receive(SYNC)) == 1
        clock.advance(31)
    assert await broker.receive(SYNC) == []
    [dead] = await broker.peek_dead_letters(SYNC)
    assert dead.dead_letter_reason == MAX_DELIVERY_REASON
    assert dead.dead_letter_error_description == "Message could not be consumed after 3 delivery attempts."


async def test_explicit_dead_letter_keeps_reason_and_description(broker: Broker) -> None:
    await broker.send(TOPIC, [msg()])
    [m] = await broker.receive(SYNC)
    await broker.dead_letter(m, reason="InvalidJson", description="body is not JSON")
    [dead] = await broker.receive(SYNC, dead_letter=True)
    assert (dead.dead_letter_reason, dead.dead_letter_error_description) == (
        "InvalidJson",
        "body is not JSON",
    )
    assert dead.lock_token is not None
    await broker.complete(dead)
    assert await broker.counts(SYNC) == {"active": 0, "scheduled": 0, "locked": 0, "dead_letter": 0}


async def test_duplicates_within_the_window_are_accepted_and_dropped_but_not_after(
    tmp_path: Path, clock: Clock
) -> None:
    async with open_broker(tmp_path, clock) as broker:
        await broker.ensure_queue("q", duplicate_detection_window=timedelta(minutes=10))
        await broker.send("q", [msg(message_id="a"), msg(message_id="a")])
        clock.advance(9 * 60)
        await broker.send("q", [msg(message_id="a")])
        assert (await broker.counts("q"))["active"] == 1
        clock.advance(61)  # 10 min after the first sighting of "a", the dropped ones do not extend it
        await broker.send("q", [msg(message_id="a")])
        assert (await broker.counts("q"))["active"] == 2


async def test_without_duplicate_detection_every_copy_is_kept(broker: Broker) -> None:
    await broker.send(TOPIC, [msg(message_id="a"), msg(message_id="a")])
    assert (await broker.counts(SYNC))["active"] == 2


async def test_a_scheduled_message_appears_at_its_time(broker: Broker, clock: Clock) -> None:
    at = datetime.fromtimestamp(clock.now + 60, UTC)
    await broker.send(TOPIC, [msg(scheduled_enqueue_time=at)])
    assert await broker.receive(SYNC) == []
    assert (await broker.counts(SYNC))["scheduled"] == 1
    clock.advance(59)
    assert await broker.receive(SYNC) == []
    clock.advance(1.001)
    [m] = await broker.receive(SYNC)
    assert m.enqueued_time == at and m.scheduled_enqueue_time == at


async def test_expired_messages_are_dropped_or_dead_lettered(tmp_path: Path, clock: Clock) -> None:
    async with open_broker(tmp_path, clock) as broker:
        await broker.ensure_queue("drop")
        await broker.ensure_queue(
            "keep",
            dead_lettering_on_message_expiration=True,
            default_message_time_to_live=timedelta(seconds=5),
        )
        await broker.send("drop", [msg(time_to_live=timedelta(seconds=10))])
        await broker.send("keep", [msg(), msg(time_to_live=timedelta(seconds=60))])
        clock.advance(11)
        assert await broker.receive("drop") == []
        assert await broker.counts("drop") == {"active": 0, "scheduled": 0, "locked": 0, "dead_letter": 0}
        # entity default (5 s) applies, and caps the message's own 60 s
        assert await broker.receive("keep") == []
        dead = await broker.peek_dead_letters(EntityRef("keep"))
        assert [d.dead_letter_reason for d in dead] == [TTL_REASON, TTL_REASON]


async def test_properties_round_trip(broker: Broker, clock: Clock) -> None:
    sent = OutgoingMessage(
        body=b"\x00\x01binary",
        message_id="m-1",
        content_type="application/octet-stream",
        subject="store",
        correlation_id="c-1",
        session_id="s-1",
        to="teams",
        reply_to="replies",
        partition_key="s-1",
        application_properties={"s": "text", "i": 7, "f": 1.5, "b": True},
        time_to_live=timedelta(hours=1),
    )
    await broker.send(TOPIC, [sent])
    [m] = await broker.receive(SYNC)
    assert (
        m.body,
        m.message_id,
        m.content_type,
        m.subject,
        m.correlation_id,
        m.session_id,
        m.to,
        m.reply_to,
        m.partition_key,
    ) == (sent.body, "m-1", "application/octet-stream", "store", "c-1", "s-1", "teams", "replies", "s-1")
    assert dict(m.application_properties) == {"s": "text", "i": 7, "f": 1.5, "b": True}
    assert m.time_to_live == timedelta(hours=1)
    assert m.enqueued_time == datetime.fromtimestamp(clock.now, UTC)
    assert m.expires_at == m.enqueued_time + timedelta(hours=1)
    assert m.locked_until == m.enqueued_time + timedelta(seconds=30)
    assert m.entity == SYNC and not m.dead_lettered and m.dead_letter_reason is None


async def test_sequence_numbers_increase_and_a_missing_message_id_is_assigned(broker: Broker) -> None:
    await broker.send(TOPIC, [msg(), msg(), msg()])
    got = await broker.receive(SYNC, max_count=10)
    seqs = [m.sequence_number for m in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert all(m.message_id for m in got) and len({m.message_id for m in got}) == 3


async def test_a_topic_fans_out_one_copy_per_subscription(broker: Broker) -> None:
    await broker.send(TOPIC, [msg(message_id="x")])
    [a] = await broker.receive(SYNC)
    await broker.complete(a)
    [b] = await broker.receive(AUDIT)
    assert b.message_id == "x" and b.delivery_count == 1


async def test_a_targeted_message_reaches_only_the_named_subscription(tmp_path: Path) -> None:
    async with open_broker(tmp_path) as broker:
        await broker.ensure_topic(
            "t",
            [
                "a",
                "b",
                Subscription("everything", rules=()),
                Subscription("vip", rules=(CorrelationRule({"tier": "gold"}),)),
            ],
        )
        await broker.send(
            "t",
            [
                msg(application_properties={"x-target-subscription": "b"}),
                msg(application_properties={"tier": "gold"}),
            ],
        )
        counts = {s: (await broker.counts(f"t/{s}"))["active"] for s in ("a", "b", "everything", "vip")}
        assert counts == {"a": 1, "b": 2, "everything": 2, "vip": 1}


async def test_unknown_entities_are_reported(broker: Broker) -> None:
    with pytest.raises(EntityNotFound):
        await broker.send("nope", [msg()])
    with pytest.raises(EntityNotFound):
        await broker.receive("nope")


async def test_renewing_a_lock_keeps_the_message(broker: Broker, clock: Clock) -> None:
    await broker.send(TOPIC, [msg()])
    [m] = await broker.receive(SYNC)
    clock.advance(20)
    until = await broker.renew_lock(m)
    assert until == datetime.fromtimestamp(clock.now + 30, UTC)
    clock.advance(20)
    assert await broker.receive(SYNC) == []
    await broker.complete(m)


async def test_messages_and_locks_survive_reopening_the_file(tmp_path: Path, clock: Clock) -> None:
    async with open_broker(tmp_path, clock) as broker:
        await declare(broker)
        await broker.send(TOPIC, [msg(message_id="one"), msg(message_id="two")])
        [locked] = await broker.receive(SYNC)
        [m] = await broker.receive(SYNC)
        await broker.dead_letter(m, reason="R", description="D")
    async with open_broker(tmp_path, clock) as broker:
        assert await broker.receive(SYNC) == []  # still locked
        clock.advance(31)
        [again] = await broker.receive(SYNC)
        assert (again.message_id, again.delivery_count) == (locked.message_id, 2)
        [dead] = await broker.peek_dead_letters(SYNC)
        assert (dead.message_id, dead.dead_letter_reason) == ("two", "R")
        assert (await broker.counts(AUDIT))["active"] == 2


async def test_a_receiver_is_woken_by_a_send_in_the_same_process(tmp_path: Path) -> None:
    async with open_broker(tmp_path, poll_interval=30.0) as broker:
        await broker.ensure_queue("q")
        loop = asyncio.get_running_loop()
        started = loop.time()
        waiting = asyncio.create_task(broker.receive("q", max_wait=10))
        await asyncio.sleep(0.05)
        await broker.send("q", [msg()])
        assert len(await waiting) == 1
        assert loop.time() - started < 1.0


async def test_a_receiver_sees_another_processs_send_within_the_poll_interval(tmp_path: Path) -> None:
    async with open_broker(tmp_path, poll_interval=0.1) as receiver, open_broker(tmp_path) as other:
        await receiver.ensure_queue("q")
        waiting = asyncio.create_task(receiver.receive("q", max_wait=5))
        await asyncio.sleep(0.05)
        await other.send("q", [msg()])  # a second connection: no in-process wake-up
        assert len(await asyncio.wait_for(waiting, 2)) == 1


async def test_a_stop_event_ends_a_waiting_receive(tmp_path: Path) -> None:
    async with open_broker(tmp_path, poll_interval=30.0) as broker:
        await broker.ensure_queue("q")
        stop = asyncio.Event()
        waiting = asyncio.create_task(broker.receive("q", max_wait=30, stop=stop))
        await asyncio.sleep(0.05)
        stop.set()
        assert await asyncio.wait_for(waiting, 1) == []


async def test_completions_made_together_share_a_transaction_but_fail_alone(
    broker: Broker, clock: Clock
) -> None:
    await broker.send(TOPIC, [msg(), msg(), msg()])
    got = await broker.receive(SYNC, max_count=3)
    await broker.complete(got[1])
    results = await asyncio.gather(*(broker.complete(m) for m in got), return_exceptions=True)
    assert [type(r) for r in results] == [type(None), MessageLockLost, type(None)]
    assert (await broker.counts(SYNC))["locked"] == 0

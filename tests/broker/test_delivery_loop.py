"""The local Service Bus trigger: what a function receives, and how the delivery loop settles."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import azure.functions as func
import pytest
from bus_testkit import SYNC, TOPIC, declare, msg, open_broker

from local.host.broker import MAX_DELIVERY_REASON, Broker
from local.host.servicebus import (
    decode_like_the_worker,
    run_batch_delivery_loop,
    run_delivery_loop,
    to_function_message,
)
from shared.bus.protocol import EntityRef, OutgoingMessage, ReceivedMessage


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    b = open_broker(tmp_path, poll_interval=0.2)
    await declare(b)
    yield b
    await b.close()


async def _run_until(
    broker: Broker, handler, done, *, seconds: float = 10, runner=run_delivery_loop, **kwargs
) -> None:  # type: ignore[no-untyped-def]
    """Run a delivery loop (`runner`: the single or the batch one) until `done()`, then stop it."""
    stop = asyncio.Event()
    if "queue" not in kwargs:
        kwargs.setdefault("topic", TOPIC)
        kwargs.setdefault("subscription", "teams-sync")
    loop = asyncio.create_task(runner(broker, handler=handler, stop=stop, **kwargs))
    try:
        deadline = asyncio.get_running_loop().time() + seconds
        while not await done():
            assert asyncio.get_running_loop().time() < deadline, "timed out"
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(loop, 10)


def test_a_function_gets_every_property_azure_passes() -> None:
    enqueued = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    received = ReceivedMessage(
        body=b'{"a":1}',
        message_id="m-1",
        sequence_number=42,
        enqueued_time=enqueued,
        delivery_count=2,
        entity=SYNC,
        content_type="application/json",
        subject="store",
        correlation_id="c-1",
        session_id="s-1",
        to="teams",
        reply_to="r",
        reply_to_session_id="rs",
        partition_key="s-1",
        application_properties={"BusinessEventId": "RetailStoreChanged", "n": 3},
        time_to_live=timedelta(days=14),
        expires_at=enqueued + timedelta(days=14),
        lock_token="tok",
        locked_until=enqueued + timedelta(seconds=30),
    )
    m = to_function_message(received)
    assert isinstance(m, func.ServiceBusMessage)
    assert m.get_body() == b'{"a":1}'
    assert (m.message_id, m.delivery_count, m.sequence_number, m.lock_token) == ("m-1", 2, 42, "tok")
    assert (
        m.content_type,
        m.subject,
        m.label,
        m.correlation_id,
        m.session_id,
        m.to,
        m.reply_to,
        m.reply_to_session_id,
        m.partition_key,
    ) == ("application/json", "store", "store", "c-1", "s-1", "teams", "r", "rs", "s-1")
    assert m.application_properties == {"BusinessEventId": "RetailStoreChanged", "n": 3}
    assert m.user_properties == m.application_properties
    assert m.enqueued_time_utc == enqueued
    assert m.expires_at_utc == enqueued + timedelta(days=14)
    assert m.locked_until == enqueued + timedelta(seconds=30)
    assert m.time_to_live == timedelta(days=14)
    assert m.dead_letter_source is None and m.state == 0
    assert m.metadata is not None and m.metadata["MessageId"] == "m-1"

    # the same object the Python worker decodes from the host's trigger metadata
    worker = decode_like_the_worker(received)

    def readable(message: func.ServiceBusMessage) -> dict[str, object]:
        values = {}
        for name in dir(type(message)):
            if name != "metadata" and isinstance(getattr(type(message), name), property):
                try:
                    values[name] = getattr(message, name)
                except NotImplementedError:  # e.g. force_persistence: not passed by the host
                    pass
        return values

    assert readable(m) == readable(worker)
    assert len(readable(m)) > 25


async def test_a_handled_message_is_completed(broker: Broker) -> None:
    seen: list[func.ServiceBusMessage] = []

    async def handler(m: func.ServiceBusMessage) -> None:
        seen.append(m)

    await broker.send(TOPIC, [msg(message_id="ok", application_properties={"k": "v"})])

    async def done() -> bool:
        return bool(seen) and (await broker.counts(SYNC))["locked"] == 0

    await _run_until(broker, handler, done)
    assert [(m.message_id, m.delivery_count, m.application_properties) for m in seen] == [
        ("ok", 1, {"k": "v"})
    ]
    assert await broker.counts(SYNC) == {"active": 0, "scheduled": 0, "locked": 0, "dead_letter": 0}


async def test_a_poison_message_reaches_the_dlq_after_max_delivery_with_azures_description(
    broker: Broker,
) -> None:
    attempts: list[int] = []

    async def handler(m: func.ServiceBusMessage) -> None:
        attempts.append(m.delivery_count or 0)
        raise ValueError(f"InvalidPayload: attempt {m.delivery_count}")

    await broker.send(TOPIC, [msg(message_id="poison")])

    async def done() -> bool:
        return (await broker.counts(SYNC))["dead_letter"] == 1

    await _run_until(broker, handler, done)
    assert attempts == [1, 2, 3]
    [dead] = await broker.peek_dead_letters(SYNC)
    assert dead.message_id == "poison"
    assert dead.dead_letter_reason == MAX_DELIVERY_REASON
    assert dead.dead_letter_error_description == "Message could not be consumed after 3 delivery attempts."


async def test_a_slow_handler_keeps_its_lock(tmp_path: Path) -> None:
    async with open_broker(tmp_path, poll_interval=0.2) as broker:
        await broker.ensure_queue("q", lock_duration=timedelta(seconds=0.3))
        calls: list[int] = []

        async def handler(m: func.ServiceBusMessage) -> None:
            calls.append(m.delivery_count or 0)
            await asyncio.sleep(1.2)

        await broker.send("q", [msg()])

        async def done() -> bool:
            return bool(calls) and sum((await broker.counts("q")).values()) == 0

        await _run_until(broker, handler, done, topic=None, subscription=None, queue="q")
        assert calls == [1]


async def test_stopping_loses_nothing(tmp_path: Path) -> None:
    async with open_broker(tmp_path, poll_interval=0.2) as broker:
        await broker.ensure_queue("q")
        started = asyncio.Event()

        async def handler(m: func.ServiceBusMessage) -> None:
            started.set()
            await asyncio.sleep(60)

        await broker.send("q", [msg(message_id="m")])
        stop = asyncio.Event()
        loop = asyncio.create_task(
            run_delivery_loop(broker, queue="q", handler=handler, stop=stop, drain_timeout=0.1)
        )
        await asyncio.wait_for(started.wait(), 5)
        stop.set()
        await asyncio.wait_for(loop, 5)
        [again] = await broker.receive("q")
        assert (again.message_id, again.delivery_count) == ("m", 2)


async def test_at_most_max_concurrent_calls_run_at_once(tmp_path: Path) -> None:
    async with open_broker(tmp_path, poll_interval=0.2) as broker:
        await broker.ensure_queue("q")
        running = peak = handled = 0

        async def handler(m: func.ServiceBusMessage) -> None:
            nonlocal running, peak, handled
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.02)
            running -= 1
            handled += 1

        await broker.send("q", [msg() for _ in range(40)])

        async def done() -> bool:
            return handled == 40

        await _run_until(
            broker, handler, done, topic=None, subscription=None, queue="q", max_concurrent_calls=4
        )
        assert peak == 4


async def test_the_loop_feeds_a_sync_handler_too(tmp_path: Path) -> None:
    async with open_broker(tmp_path, poll_interval=0.2) as broker:
        await broker.ensure_queue("q")
        seen: list[str] = []
        await broker.send("q", [OutgoingMessage(body=b"x", message_id="s")])

        async def done() -> bool:
            return seen == ["s"]

        await _run_until(
            broker, lambda m: seen.append(m.message_id), done, topic=None, subscription=None, queue="q"
        )
        assert EntityRef("q").path == "q"


# -- cardinality 'many': the extension's batch receive loop ----------------------------------------


async def _run_batches_until(broker: Broker, handler, done, **kwargs) -> None:  # type: ignore[no-untyped-def]
    await _run_until(broker, handler, done, runner=run_batch_delivery_loop, queue="q", **kwargs)


async def test_a_batch_trigger_gets_lists_of_at_most_max_message_batch_size_one_call_at_a_time(
    tmp_path: Path,
) -> None:
    async with open_broker(tmp_path, poll_interval=0.2) as broker:
        await broker.ensure_queue("q")
        await broker.send("q", [msg(message_id=f"m-{i}") for i in range(25)])
        batches: list[list[str]] = []
        running = peak = 0

        async def handler(ms: list[func.ServiceBusMessage]) -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            assert all(isinstance(m, func.ServiceBusMessage) for m in ms)
            batches.append([m.message_id or "" for m in ms])
            await asyncio.sleep(0.02)
            running -= 1

        async def done() -> bool:
            return sum(map(len, batches)) == 25 and sum((await broker.counts("q")).values()) == 0

        await _run_batches_until(broker, handler, done, max_message_batch_size=10)
        assert [len(b) for b in batches] == [10, 10, 5]
        assert sorted(m for b in batches for m in b) == sorted(f"m-{i}" for i in range(25))
        assert peak == 1  # "only executes functions at a concurrency level of 1"


async def test_a_failed_batch_is_abandoned_whole_and_dead_lettered_at_max_delivery(tmp_path: Path) -> None:
    async with open_broker(tmp_path, poll_interval=0.2) as broker:
        await broker.ensure_queue("q", max_delivery_count=2)
        await broker.send("q", [msg(message_id="a"), msg(message_id="b")])
        attempts: list[tuple[str, int]] = []

        async def handler(ms: list[func.ServiceBusMessage]) -> None:
            attempts.extend((m.message_id or "", m.delivery_count or 0) for m in ms)
            raise ValueError("one bad apple")

        async def done() -> bool:
            return (await broker.counts("q"))["dead_letter"] == 2

        await _run_batches_until(broker, handler, done)
        assert sorted(attempts) == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]
        dead = await broker.peek_dead_letters(EntityRef("q"))
        assert sorted(d.message_id or "" for d in dead) == ["a", "b"]
        assert {d.dead_letter_reason for d in dead} == {MAX_DELIVERY_REASON}


async def test_a_batch_gets_no_lock_renewal(tmp_path: Path) -> None:
    """maxAutoLockRenewalDuration "only applies for functions that receive a single message at a
    time": a batch slower than its lock loses it, and the messages come again."""
    async with open_broker(tmp_path, poll_interval=0.1) as broker:
        await broker.ensure_queue("q", lock_duration=timedelta(seconds=0.3))
        await broker.send("q", [msg(message_id="slow")])
        calls: list[int] = []

        async def handler(ms: list[func.ServiceBusMessage]) -> None:
            calls.extend(m.delivery_count or 0 for m in ms)
            if len(calls) == 1:
                await asyncio.sleep(1.0)

        async def done() -> bool:
            return len(calls) >= 2 and sum((await broker.counts("q")).values()) == 0

        await _run_batches_until(broker, handler, done)
        assert calls[:2] == [1, 2]


async def test_stopping_a_batch_loses_nothing(tmp_path: Path) -> None:
    async with open_broker(tmp_path, poll_interval=0.2) as broker:
        await broker.ensure_queue("q")
        started = asyncio.Event()

        async def handler(ms: list[func.ServiceBusMessage]) -> None:
            started.set()
            await asyncio.sleep(60)

        await broker.send("q", [msg(message_id="m1"), msg(message_id="m2")])
        stop = asyncio.Event()
        loop = asyncio.create_task(
            run_batch_delivery_loop(broker, queue="q", handler=handler, stop=stop, drain_timeout=0.1)
        )
        await asyncio.wait_for(started.wait(), 5)
        stop.set()
        await asyncio.wait_for(loop, 5)
        again = await broker.receive("q", max_count=10)
        assert sorted((m.message_id or "", m.delivery_count) for m in again) == [("m1", 2), ("m2", 2)]

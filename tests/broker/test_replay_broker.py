"""Dead-letter replay and purge against the embedded broker (the same code runs on Service Bus)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bus_testkit import AUDIT, SYNC, TOPIC, Clock, declare, msg, open_broker

from local.host.broker import Broker
from shared.bus.protocol import EntityRef, ReceivedMessage
from shared.bus.replay import (
    ORIGINAL_DLQ_DESCRIPTION,
    ORIGINAL_DLQ_REASON,
    ORIGINAL_MESSAGE_ID,
    REPLAY_COUNT,
    Action,
    AuditRecord,
    DeadLetterFilter,
    list_dead_letters,
    purge_dead_letters,
    replay_dead_letters,
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def broker(tmp_path: Path, clock: Clock) -> AsyncIterator[Broker]:
    b = open_broker(tmp_path, clock)
    await declare(b, duplicate_detection_window=timedelta(hours=1))
    yield b
    await b.close()


def utc(clock: Clock):  # type: ignore[no-untyped-def]
    return lambda: datetime.fromtimestamp(clock.now, UTC)


async def dead_letter(
    broker: Broker, entity: EntityRef, count: int, reason: str = "Boom", **kwargs: Any
) -> list[str]:
    """Send `count` messages and dead-letter them on `entity` (the other subscription keeps its copy)."""
    ids = [f"{reason}-{i}" for i in range(count)]
    await broker.send(TOPIC, [msg(message_id=i, **kwargs) for i in ids])
    for m in await broker.receive(entity, max_count=count):
        await broker.dead_letter(m, reason=reason, description=f"{reason} happened")
    return ids


async def run(broker: Broker, clock: Clock, **kwargs: Any):  # type: ignore[no-untyped-def]
    clock.advance(1)
    kwargs.setdefault("dry_run", False)
    return await replay_dead_letters(broker, SYNC, clock=utc(clock), max_wait=0, **kwargs)


async def test_a_replayed_copy_has_a_new_id_and_provenance_and_is_not_dropped_as_duplicate(
    broker: Broker, clock: Clock
) -> None:
    await dead_letter(broker, SYNC, 1, session_id="store-0042")
    await broker.receive(AUDIT)  # the audit subscription is busy with its own copy
    summary = await run(broker, clock)
    assert (summary.selected, summary.done) == (1, 1)
    [copy] = await broker.receive(SYNC)
    assert copy.message_id != "Boom-0"
    assert copy.application_properties[ORIGINAL_MESSAGE_ID] == "Boom-0"
    assert copy.application_properties[REPLAY_COUNT] == 1
    assert copy.application_properties[ORIGINAL_DLQ_REASON] == "Boom"
    assert copy.application_properties[ORIGINAL_DLQ_DESCRIPTION] == "Boom happened"
    assert copy.session_id == "store-0042"
    assert copy.delivery_count == 1
    assert await broker.peek_dead_letters(SYNC) == []
    assert await broker.receive(AUDIT) == []  # only the same subscription got the copy


async def test_a_message_replayed_max_times_is_refused_and_stays(broker: Broker, clock: Clock) -> None:
    await dead_letter(broker, SYNC, 1)
    for expected_count in (1, 2):
        assert (await run(broker, clock, max_replays=2)).done == 1
        [copy] = await broker.receive(SYNC)
        assert copy.application_properties[REPLAY_COUNT] == expected_count
        assert copy.application_properties[ORIGINAL_MESSAGE_ID] == "Boom-0"
        await broker.dead_letter(copy, reason="Boom", description="again")
    records: list[AuditRecord] = []
    summary = await run(broker, clock, max_replays=2, audit=records.append)
    assert (summary.done, summary.refused) == (0, 1)
    assert [r.action for r in records] == [Action.REFUSED]
    [still] = await broker.peek_dead_letters(SYNC)
    assert still.application_properties[REPLAY_COUNT] == 2
    assert (await broker.counts(SYNC))["active"] == 0


async def test_a_dry_run_changes_nothing(broker: Broker, clock: Clock) -> None:
    await dead_letter(broker, SYNC, 3)
    before = await broker.peek_dead_letters(SYNC)
    records: list[AuditRecord] = []
    clock.advance(1)  # the run starts after the dead letters were enqueued
    summary = await replay_dead_letters(
        broker, SYNC, audit=records.append, clock=utc(clock)
    )  # default: dry run
    assert summary.dry_run and summary.done == 3
    assert [r.action for r in records] == [Action.WOULD_REPLAY] * 3
    after = await broker.peek_dead_letters(SYNC)
    assert [(m.sequence_number, m.delivery_count) for m in after] == [
        (m.sequence_number, m.delivery_count) for m in before
    ]
    assert (await broker.counts(SYNC))["active"] == 0
    purge = await purge_dead_letters(broker, SYNC, clock=utc(clock))
    assert purge.dry_run and purge.done == 3
    assert len(await broker.peek_dead_letters(SYNC)) == 3


async def test_filters_select_exactly_what_they_say(broker: Broker, clock: Clock) -> None:
    await dead_letter(broker, SYNC, 2, reason="InvalidJson")
    clock.advance(60)
    await broker.send(
        TOPIC,
        [
            msg(
                '{"BusinessEventId":"RetailWorkerChanged"}',
                message_id="w",
                application_properties={"x-store": "0042"},
            )
        ],
    )
    [w] = await broker.receive(SYNC)
    await broker.dead_letter(w, reason="Transient", description="timeout")

    by_reason = await run(broker, clock, selection=DeadLetterFilter(reasons=frozenset({"Transient"})))
    assert [r.message_id for r in by_reason.records] == ["w"]
    assert [m.message_id for m in await broker.peek_dead_letters(SYNC)] == ["InvalidJson-0", "InvalidJson-1"]

    limited = await run(broker, clock, selection=DeadLetterFilter(limit=1))
    assert [r.message_id for r in limited.records] == ["InvalidJson-0"]
    assert [m.message_id for m in await broker.peek_dead_letters(SYNC)] == ["InvalidJson-1"]
    assert (await broker.counts(SYNC))["locked"] == 0  # unselected dead letters were released


async def test_a_crash_between_send_and_complete_leaves_a_duplicate_never_a_loss(
    broker: Broker, clock: Clock
) -> None:
    await dead_letter(broker, SYNC, 2)

    class FailingComplete:
        """The broker, except that completing a dead letter fails (the process 'dies' there)."""

        def __init__(self, inner: Broker) -> None:
            self.inner = inner
            self.send = inner.send
            self.peek_dead_letters = inner.peek_dead_letters

        @asynccontextmanager
        async def dead_letter_receiver(self, entity: EntityRef) -> AsyncIterator[Any]:
            async with self.inner.dead_letter_receiver(entity) as receiver:

                async def complete(message: ReceivedMessage) -> None:
                    raise ConnectionError("connection lost")

                receiver.complete = complete  # type: ignore[method-assign]
                yield receiver

    summary = await run(FailingComplete(broker), clock)  # type: ignore[arg-type]
    assert summary.done == 2
    assert all("completing the dead letter failed" in (r.detail or "") for r in summary.records)
    copies = await broker.receive(SYNC, max_count=10)
    assert sorted(c.application_properties[ORIGINAL_MESSAGE_ID] for c in copies) == ["Boom-0", "Boom-1"]
    assert [m.message_id for m in await broker.peek_dead_letters(SYNC)] == ["Boom-0", "Boom-1"]


async def test_a_copy_that_fails_again_during_the_run_is_not_replayed_by_the_same_run(
    broker: Broker, clock: Clock
) -> None:
    await dead_letter(broker, SYNC, 1)
    sent = broker.send

    async def send_and_fail_at_once(entity: str, messages: Any) -> None:
        await sent(entity, messages)
        clock.advance(1)
        [copy] = await broker.receive(SYNC)
        await broker.dead_letter(copy, reason="Boom", description="still broken")

    broker.send = send_and_fail_at_once  # type: ignore[method-assign]
    summary = await run(broker, clock)
    assert summary.done == 1
    [back] = await broker.peek_dead_letters(SYNC)
    assert back.application_properties[REPLAY_COUNT] == 1


async def test_purge_deletes_the_selected_dead_letters_with_an_audit_line_each(
    broker: Broker, clock: Clock
) -> None:
    await dead_letter(broker, SYNC, 2, reason="Old")
    await dead_letter(broker, SYNC, 1, reason="New")
    records: list[AuditRecord] = []
    clock.advance(1)
    summary = await purge_dead_letters(
        broker,
        SYNC,
        DeadLetterFilter(reasons=frozenset({"Old"})),
        dry_run=False,
        audit=records.append,
        clock=utc(clock),
        max_wait=0,
    )
    assert summary.done == 2
    assert [(r.action, r.message_id) for r in records] == [(Action.PURGED, "Old-0"), (Action.PURGED, "Old-1")]
    assert [m.message_id for m in await list_dead_letters(broker, SYNC)] == ["New-0"]


async def test_replay_from_a_queue_goes_back_to_the_queue(tmp_path: Path, clock: Clock) -> None:
    async with open_broker(tmp_path, clock) as broker:
        await broker.ensure_queue("q", duplicate_detection_window=timedelta(minutes=10))
        await broker.send("q", [msg(message_id="a")])
        [m] = await broker.receive("q")
        await broker.dead_letter(m, reason="R", description="D")
        clock.advance(1)
        summary = await replay_dead_letters(
            broker, EntityRef("q"), dry_run=False, clock=utc(clock), max_wait=0
        )
        assert summary.done == 1
        [copy] = await broker.receive("q")
        assert copy.application_properties[ORIGINAL_MESSAGE_ID] == "a"
        assert "x-target-subscription" not in copy.application_properties

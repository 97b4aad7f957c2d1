"""Issue #17: a real dead-letter replay or purge needs a filter, a limit or an explicit "all";
`entity=` names only the app's own entities; a purge's audit keeps the body's SHA-256 (on the
local broker, which has Service Bus' dead-letter semantics)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from local.host.broker import Broker
from shared.bus.protocol import EntityRef, OutgoingMessage
from shared.bus.replay import DeadLetterFilter
from shared.ops import dlq
from shared.ops.dlq import BadFilter
from shared.settings import Settings
from shared.state import StateStore
from shared.state.sqlite import SqliteBackend

BODY = b'{"not": "an event"}'


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Broker, StateStore, EntityRef, int]]:
    broker = Broker(tmp_path / "sb.sqlite")
    state = StateStore(SqliteBackend(tmp_path / "state.sqlite"))
    await broker.ensure_queue("graph-notifications")
    await broker.send("graph-notifications", [OutgoingMessage(body=BODY, message_id="poison-1")])
    entity = EntityRef("graph-notifications")
    [message] = await broker.receive(entity, max_count=1, max_wait=5)
    await broker.dead_letter(message, reason="bad", description="test")
    [dead] = await dlq.list_all(broker, [entity], DeadLetterFilter())
    yield broker, state, entity, dead.sequence_number
    await state.close()
    await broker.close()


async def test_a_real_purge_or_replay_without_a_filter_or_limit_is_refused(
    world: tuple[Broker, StateStore, EntityRef, int],
) -> None:
    broker, state, entity, _ = world
    with pytest.raises(BadFilter):
        await dlq.purge(broker, state, [entity], DeadLetterFilter(), dry_run=False)
    with pytest.raises(BadFilter):
        await dlq.replay(broker, state, [entity], DeadLetterFilter(), max_replays=3, dry_run=False)
    dry = await dlq.purge(broker, state, [entity], DeadLetterFilter(), dry_run=True)
    assert dry.done == 1 and len(await dlq.list_all(broker, [entity], DeadLetterFilter())) == 1


async def test_a_purge_keeps_the_body_hash_in_its_audit_record(
    world: tuple[Broker, StateStore, EntityRef, int],
) -> None:
    broker, state, entity, seq = world
    done = await dlq.purge(
        broker, state, [entity], DeadLetterFilter(sequence_numbers=frozenset({seq})), dry_run=False
    )
    assert done.done == 1
    [record] = await state.audit_trail(dlq.AUDIT_KIND)
    assert record["body_sha256"] == hashlib.sha256(BODY).hexdigest() and "body" not in record


def test_entity_names_only_the_apps_own_entities() -> None:
    own = dlq.app_entities(Settings())
    with pytest.raises(BadFilter):
        dlq.parse_entities(["someone-elses-queue"], allowed=own)
    assert dlq.parse_entities(["graph-notifications"], allowed=own) == [EntityRef("graph-notifications")]


def test_the_record_events_subscription_is_one_of_the_apps_entities() -> None:
    own = dlq.app_entities(Settings())
    assert dlq.parse_entities(["dataverse-events/teams-records"], allowed=own) == [
        EntityRef("dataverse-events", "teams-records")
    ]

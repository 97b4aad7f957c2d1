"""Handling a notification reads a constant number of state rows, whatever the org's size.

The store is the real SQLite backend behind a wrapper that counts the rows it hands out (a
`get` that finds nothing counts as one read too): a lookup that scanned the team records (the
old `team_key_of`) reads O(teams) rows and fails these at once.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.domain.subscriptions import Subscription
from shared.drift import subscription_records
from shared.drift.processing import BadNotificationMessage, DriftProcessor
from shared.drift.webhook import MESSAGE_SCHEMA
from shared.spine import RequestQueue
from shared.spine.features import TEAMS
from shared.state import Entity, StateStore, TeamRecord
from shared.state import teams as team_records
from shared.state.backend import Write
from shared.state.sqlite import SqliteBackend

# Reads one change notification may cost: its subscription (1), team index (1), echo keys (2),
# sync request counter (1), and the outcome counter (1). Anything O(org) is far above this.
READS_PER_NOTIFICATION = 6
SUB = "7f2d5a8e-3c1b-4e6f-9a0d-2b4c6e8f0a1c"


class CountingBackend:
    """SqliteBackend that counts rows read, by table (a spy on the real backend, not a fake)."""

    def __init__(self, inner: SqliteBackend) -> None:
        self.inner = inner
        self.reads: Counter[str] = Counter()
        self.rows: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()  # backend calls, by method

    async def get(self, table: str, partition: str, row: str) -> Entity | None:
        self.calls["get"] += 1
        self.reads[table] += 1
        self.rows[f"{table}/{partition}/{row.split(':', 1)[0]}"] += 1
        return await self.inner.get(table, partition, row)

    async def get_many(self, table: str, partition: str, rows: Sequence[str]) -> dict[str, Entity]:
        """Each row asked for counts as the point read it is in Azure Tables."""
        self.calls["get_many"] += 1
        for row in dict.fromkeys(rows):
            self.reads[table] += 1
            self.rows[f"{table}/{partition}/{row.split(':', 1)[0]}"] += 1
        return await self.inner.get_many(table, partition, rows)

    async def insert(self, table: str, partition: str, row: str, data: dict[str, Any]) -> Entity:
        return await self.inner.insert(table, partition, row, data)

    async def upsert(
        self, table: str, partition: str, row: str, data: dict[str, Any], *, if_match: str | None = None
    ) -> Entity:
        return await self.inner.upsert(table, partition, row, data, if_match=if_match)

    async def write(self, table: str, partition: str, writes: Sequence[Write]) -> None:
        await self.inner.write(table, partition, writes)

    async def delete(self, table: str, partition: str, row: str) -> None:
        await self.inner.delete(table, partition, row)

    async def query(
        self, table: str, partition: str | None = None, *, start: str | None = None, stop: str | None = None
    ) -> AsyncIterator[Entity]:
        self.reads[table] += 1  # a range read that finds nothing still costs one
        async for e in self.inner.query(table, partition, start=start, stop=stop):
            self.reads[table] += 1
            yield e

    async def close(self) -> None:
        await self.inner.close()

    def total(self) -> int:
        return sum(self.reads.values())

    def reset(self) -> None:
        self.reads.clear()
        self.rows.clear()
        self.calls.clear()


class FakeDurable:
    """Records the orchestrations request_sync starts (a stand-in for the Durable adapter)."""

    def __init__(self) -> None:
        self.started: list[str] = []

    async def runtime_status(self, instance_id: str) -> str | None:
        return "Running" if instance_id in self.started else None

    async def start_new(self, orchestrator: str, instance_id: str, input: Any) -> None:
        self.started.append(instance_id)

    async def last_updated(self, instance_id: str) -> datetime | None:
        return None


def _membership(team: str, user: str) -> str:
    return base64.b64encode(f"0#{team}##{user}".encode()).decode()


def _member_change(team: str, user: str, change_type: str = "deleted") -> dict[str, Any]:
    return {
        "subscriptionId": SUB,
        "changeType": change_type,
        "resource": f"teams('{team}')/members('{_membership(team, user)}')",
    }


def _message(*items: dict[str, Any]) -> bytes:
    return json.dumps({"schema": MESSAGE_SCHEMA, "endpoint": "notifications", "value": list(items)}).encode()


async def _org(tmp_path: Path, teams: int) -> tuple[StateStore, CountingBackend]:
    backend = CountingBackend(SqliteBackend(tmp_path / f"state-{teams}.sqlite"))
    state = StateStore(backend)
    for i in range(teams):
        await team_records.put_team(
            state,
            TeamRecord(
                key=f"store:{i:04d}",
                team_id=f"team-{i}",
                managed_personnel=[f"{i:04d}{j:02d}" for j in range(20)],
                managed_user_ids=[f"user-{i}-{j}" for j in range(20)],
            ),
        )
    await subscription_records.put_subscription(
        state,
        Subscription(
            subscription_id=SUB,
            resource="/teams/getAllMembers",
            change_type="created,updated,deleted",
            notification_url="https://app/api/graph/notifications",
            expiration=datetime(2030, 1, 1, tzinfo=UTC),
        ),
    )
    backend.reset()
    return state, backend


@pytest.mark.parametrize("teams", [10, 400])
async def test_one_notification_reads_a_constant_number_of_state_rows(tmp_path: Path, teams: int) -> None:
    state, backend = await _org(tmp_path, teams)
    try:
        outcomes = await DriftProcessor(state, FakeDurable()).process(
            _message(_member_change("team-3", "u-1"))
        )
        assert [o.what for o in outcomes] == ["sync-started"]
        assert backend.total() <= READS_PER_NOTIFICATION, dict(backend.reads)
        backend.reset()
        # A notification for a team the app does not manage costs its one index read, no scan.
        outcomes = await DriftProcessor(state, FakeDurable()).process(_message(_member_change("other", "u")))
        assert [o.what for o in outcomes] == ["unknown-team"]
        assert backend.total() <= READS_PER_NOTIFICATION, dict(backend.reads)
    finally:
        await state.close()


async def test_a_message_reads_each_distinct_team_once_and_requests_one_sync_per_team(tmp_path: Path) -> None:
    state, backend = await _org(tmp_path, 50)
    durable = FakeDurable()
    try:
        items = [_member_change(f"team-{i % 3}", f"u-{i}") for i in range(60)]
        outcomes = await DriftProcessor(state, durable).process(_message(*items))
        assert sorted(o.what for o in outcomes).count("sync-started") == 3
        assert {o.detail for o in outcomes} == {"store:0000", "store:0001", "store:0002"}
        assert backend.rows["mappings/team/~team"] == 3  # one index read per distinct team
        assert len(durable.started) == 3
        for key in ("store:0000", "store:0001", "store:0002"):
            assert await RequestQueue(state, TEAMS).seen(key) == 1
        # Two echo keys per notification, one subscription read, a few requests and counters per team.
        assert backend.total() <= 1 + 3 * 3 + 60 * 2 + 16, dict(backend.reads)
    finally:
        await state.close()


async def test_a_batch_of_messages_reads_each_distinct_team_once_and_sets_a_bad_message_apart(
    tmp_path: Path,
) -> None:
    """The queue trigger's batch (cardinality many): 30 one-notification messages for 3 teams, as
    Graph posts one change at a time, cost the same team reads and sync requests as one message
    carrying all 30; a message that is not the webhook's is handed back as what it is, and the
    others are acted on."""
    state, backend = await _org(tmp_path, 50)
    durable = FakeDurable()
    try:
        bodies: list[bytes] = [_message(_member_change(f"team-{i % 3}", f"u-{i}")) for i in range(30)]
        bodies.insert(7, b"not json")
        results = await DriftProcessor(state, durable).process_batch(bodies)
        assert len(results) == 31
        bad = results[7]
        assert isinstance(bad, BadNotificationMessage) and bad.reason == "invalid-json"
        good = [r for i, r in enumerate(results) if i != 7]
        assert all(isinstance(r, list) and len(r) == 1 for r in good)
        whats = sorted(o.what for r in good for o in r)  # type: ignore[union-attr]
        assert whats.count("sync-started") == 3 and whats.count("sync-pending") == 27
        assert backend.rows["mappings/team/~team"] == 3  # one index read per distinct team
        assert len(durable.started) == 3
    finally:
        await state.close()


async def test_a_batch_reads_its_teams_and_echo_keys_together_and_no_more_rows_than_one_by_one(
    tmp_path: Path,
) -> None:
    """40 messages of 5 echoes each (the app's own member adds) for 10 teams, and a team the app
    does not manage: the team rows in one call, the echo keys in one call (in Azure Tables,
    point reads in flight together instead of 200 round trips one after another), each row
    read once, and only the first echo key of each (the one that matches), as before."""
    state, backend = await _org(tmp_path, 50)
    try:
        keys = [f"team:team-{t}/user:u-{t}-{j}/created" for t in range(10) for j in range(20)]
        await state.note_own_changes(keys, timedelta(minutes=10))
        backend.reset()
        bodies = [
            _message(
                *(
                    _member_change(
                        f"team-{(m * 5 + k) // 20 % 10}",
                        f"u-{(m * 5 + k) // 20 % 10}-{(m * 5 + k) % 20}",
                        "created",
                    )
                    for k in range(5)
                )
            )
            for m in range(40)
        ] + [_message(_member_change("not-ours", "u-x", "created"))]
        results = await DriftProcessor(state, FakeDurable()).process_batch(bodies)
        whats = Counter(o.what for r in results for o in r)  # type: ignore[union-attr]
        assert whats == {"echo": 200, "unknown-team": 1}
        assert backend.calls["get_many"] == 2
        assert backend.rows["mappings/team/~team"] == 11  # each distinct team once
        assert backend.reads["echoes"] == 200  # one key per notification: the first matched
    finally:
        await state.close()

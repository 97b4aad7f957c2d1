"""Queued notifications → echo, unknown team, or a sync request; lifecycle events; bad messages."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.domain.plan import AddMembers, CreateChannel, CreateTeam, Plan, RemoveMember, SetRole, UpdateTeam
from shared.domain.subscriptions import Subscription
from shared.domain.teams import MemberRole, TeamKey
from shared.drift import subscription_records
from shared.drift.echoes import echo_candidates, note_plan_changes, own_change_keys
from shared.drift.notifications import ResourceKind, ResourceRef
from shared.drift.processing import BadNotificationMessage, DriftProcessor
from shared.drift.webhook import MESSAGE_SCHEMA
from shared.spine import RequestQueue
from shared.spine.features import TEAMS
from shared.state import StateStore, TeamRecord
from shared.state import teams as team_records
from shared.state.sqlite import SqliteBackend

KEY = TeamKey.store("0042")
SUB = "5a1f0c3e-0000-4000-8000-000000000001"
OURS = "5a1f0c3e-0000-4000-8000-000000000002"
GONE = "5a1f0c3e-0000-4000-8000-000000000003"


def membership(team: str, user: str) -> str:
    return base64.b64encode(f"0#{team}##{user}".encode()).decode()


class FakeDurable:
    """Records what the spine's request asks of Durable (a stand-in for the adapter, not for Graph)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str, Any]] = []
        self.running: set[str] = set()

    async def runtime_status(self, instance_id: str) -> str | None:
        return "Running" if instance_id in self.running else None

    async def start_new(self, orchestrator: str, instance_id: str, input: Any) -> None:
        self.started.append((orchestrator, instance_id, input))
        self.running.add(instance_id)

    async def last_updated(self, instance_id: str) -> datetime | None:
        return None


class FakeKeeper:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def reauthorize(self, subscription_id: str) -> object:
        self.calls.append(("reauthorize", subscription_id))
        return object() if subscription_id == OURS else None

    async def replace_removed(self, subscription_id: str) -> object:
        self.calls.append(("replace", subscription_id))
        return None


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[StateStore]:
    s = StateStore(SqliteBackend(tmp_path / "state.sqlite"))
    await team_records.put_team(s, TeamRecord(key=str(KEY), team_id="team-1"))
    for sid in (SUB, OURS, GONE):  # the subscriptions the app holds (the keeper records them)
        await subscription_records.put_subscription(
            s,
            Subscription(
                subscription_id=sid,
                resource="/teams/getAllMembers",
                change_type="created,updated,deleted",
                notification_url="https://app/api/graph/notifications",
                expiration=datetime(2030, 1, 1, tzinfo=UTC),
            ),
        )
    yield s
    await s.close()


def message(*items: dict[str, Any], received_at: str | None = None) -> bytes:
    envelope: dict[str, Any] = {"schema": MESSAGE_SCHEMA, "endpoint": "notifications", "value": list(items)}
    if received_at is not None:
        envelope["received_at"] = received_at
    return json.dumps(envelope).encode()


def ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


def member_change(team: str, user: str, change_type: str = "deleted") -> dict[str, Any]:
    return {
        "subscriptionId": SUB,
        "changeType": change_type,
        "resource": f"teams('{team}')/members('{membership(team, user)}')",
    }


async def test_drift_on_a_mapped_team_requests_its_sync(state: StateStore) -> None:
    durable = FakeDurable()
    outcomes = await DriftProcessor(state, durable).process(message(member_change("team-1", "u-9")))
    assert [o.what for o in outcomes] == ["sync-started"]
    ((orchestrator, instance, data),) = durable.started
    assert orchestrator == "sync_team" and instance == "sync-store-0042" and data["key"] == "store:0042"
    assert data["reason"].startswith("teams drift: member ") and data["reason"].endswith(" deleted")
    assert await RequestQueue(state, TEAMS).seen("store:0042") == 1
    assert (await state.counters())["drift.sync-started"] == 1


async def test_a_burst_for_one_team_starts_one_orchestration(state: StateStore) -> None:
    durable = FakeDurable()
    items = [member_change("team-1", f"u-{i}") for i in range(5)]
    outcomes = await DriftProcessor(state, durable).process(message(*items))
    assert [o.what for o in outcomes] == ["sync-started"] + ["sync-pending"] * 4
    # One message is one batch: one sync request for the team, however many notifications.
    assert len(durable.started) == 1 and await RequestQueue(state, TEAMS).seen("store:0042") == 1


async def test_unmapped_teams_are_ignored(state: StateStore) -> None:
    durable = FakeDurable()
    outcomes = await DriftProcessor(state, durable).process(message(member_change("someone-elses", "u")))
    assert [o.what for o in outcomes] == ["unknown-team"] and durable.started == []


async def test_the_apps_own_removal_is_an_echo_but_a_manual_re_add_is_drift(state: StateStore) -> None:
    plan = Plan(operations=(RemoveMember(key=KEY, reason="left the store", team_id="team-1", user_id="u-1"),))
    await note_plan_changes(state, plan)
    durable = FakeDurable()
    processor = DriftProcessor(state, durable)
    assert [o.what for o in await processor.process(message(member_change("team-1", "u-1")))] == ["echo"]
    assert durable.started == []
    readded = await processor.process(message(member_change("team-1", "u-1", "created")))
    assert [o.what for o in readded] == ["sync-started"]


async def test_an_echo_processed_after_its_ttl_is_still_an_echo_when_it_was_received_in_time(
    state: StateStore,
) -> None:
    # The pass removed u-1 25 minutes ago (its note expired 15 minutes ago); the webhook got the
    # echo 20 minutes ago, but the queue lagged behind and hands it over only now.
    plan = Plan(operations=(RemoveMember(key=KEY, reason="left the store", team_id="team-1", user_id="u-1"),))
    await note_plan_changes(state, plan, ttl=timedelta(minutes=-15))
    durable = FakeDurable()
    processor = DriftProcessor(state, durable)
    late = await processor.process(message(member_change("team-1", "u-1"), received_at=ago(20)))
    assert [o.what for o in late] == ["echo"] and durable.started == []
    # Received after the note expired: a removal then is someone else's, i.e. drift.
    after = await processor.process(message(member_change("team-1", "u-1"), received_at=ago(10)))
    assert [o.what for o in after] == ["sync-started"]


async def test_a_queue_backlog_of_echoes_for_many_teams_starts_no_sync(state: StateStore) -> None:
    teams = {f"store:{n:04d}": f"team-{n}" for n in range(100, 150)}
    for key, team_id in teams.items():
        await team_records.put_team(state, TeamRecord(key=key, team_id=team_id))
    plan = Plan(
        operations=tuple(
            AddMembers(key=TeamKey.parse(key), reason="new", team_id=team_id, user_ids=("u-1", "u-2"))
            for key, team_id in teams.items()
        )
    )
    await note_plan_changes(state, plan, ttl=timedelta(minutes=-30))
    items = [member_change(team_id, user, "created") for team_id in teams.values() for user in ("u-1", "u-2")]
    durable = FakeDurable()
    outcomes = await DriftProcessor(state, durable).process(message(*items, received_at=ago(45)))
    assert {o.what for o in outcomes} == {"echo"} and len(outcomes) == 100 and durable.started == []


async def test_a_received_at_ahead_of_our_clock_counts_as_now(state: StateStore) -> None:
    plan = Plan(operations=(RemoveMember(key=KEY, reason="left the store", team_id="team-1", user_id="u-1"),))
    await note_plan_changes(state, plan, ttl=timedelta(minutes=5))
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    # A clock an hour ahead would otherwise make an unexpired note look expired (drift); never
    # the reverse: clamping can only make a notification count as received earlier than now.
    outcomes = await DriftProcessor(state, FakeDurable()).process(
        message(member_change("team-1", "u-1"), received_at=future)
    )
    assert [o.what for o in outcomes] == ["echo"]


async def test_channel_creations_by_a_pass_are_echoes_for_that_team_only(state: StateStore) -> None:
    await team_records.put_team(state, TeamRecord(key="store:0043", team_id="team-2"))
    await note_plan_changes(
        state, Plan(operations=(CreateChannel(key=KEY, reason="configured", team_id="team-1", name="Ops"),))
    )
    channel = {"subscriptionId": SUB, "changeType": "created", "resource": "teams('team-1')/channels('19:c')"}
    other = {**channel, "resource": "teams('team-2')/channels('19:d')"}
    outcomes = await DriftProcessor(state, FakeDurable()).process(message(channel, other))
    assert [o.what for o in outcomes] == ["echo", "sync-started"]


def test_a_plan_names_its_changes_including_those_on_a_team_it_creates() -> None:
    plan = Plan(
        operations=(
            AddMembers(key=KEY, reason="new", user_ids=("u-1",), role=MemberRole.OWNER),
            SetRole(key=KEY, reason="promoted", team_id="team-1", user_id="u-2", role=MemberRole.OWNER),
            UpdateTeam(key=KEY, reason="renamed", team_id="team-1", display_name="x"),
        )
    )
    assert own_change_keys(plan) == ["team:team-1/user:u-2/updated", "team:team-1/updated"]
    assert own_change_keys(plan, {"store:0042": "new-team"})[:2] == [
        "team:new-team/user:u-1/created",
        "team:new-team/user:u-1/updated",
    ]


def test_a_member_notification_is_matched_by_user_and_by_membership() -> None:
    mid = membership("team-1", "u-1")
    assert echo_candidates(ResourceRef(ResourceKind.MEMBER, "team-1", mid), "deleted") == [
        "team:team-1/user:u-1/deleted",
        f"team:team-1/member:{mid}/deleted",
    ]
    assert echo_candidates(ResourceRef(ResourceKind.MEMBER, "team-1", "opaque"), "deleted") == [
        "team:team-1/member:opaque/deleted"
    ]


async def test_other_resources_are_counted_not_synced(state: StateStore) -> None:
    outcomes = await DriftProcessor(state, FakeDurable()).process(
        message({"subscriptionId": SUB, "changeType": "updated", "resource": "Groups/team-1"})
    )
    assert [o.what for o in outcomes] == ["not-a-team"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"nope", "invalid-json"),
        (json.dumps({"value": []}).encode(), "unknown-schema"),
        (json.dumps({"schema": MESSAGE_SCHEMA, "value": "x"}).encode(), "invalid-shape"),
        (
            json.dumps({"schema": MESSAGE_SCHEMA, "value": [{"changeType": "created"}]}).encode(),
            "invalid-notification",
        ),
        (json.dumps({"schema": MESSAGE_SCHEMA, "value": [], "received_at": 7}).encode(), "invalid-shape"),
        (
            json.dumps({"schema": MESSAGE_SCHEMA, "value": [], "received_at": "yesterday"}).encode(),
            "invalid-shape",
        ),
        (
            json.dumps(
                {"schema": MESSAGE_SCHEMA, "value": [], "received_at": "2026-12-04T10:00:00"}
            ).encode(),
            "invalid-shape",
        ),
    ],
)
async def test_bad_messages_are_rejected_with_a_reason(state: StateStore, body: bytes, reason: str) -> None:
    with pytest.raises(BadNotificationMessage, match=f"^{reason}: "):
        await DriftProcessor(state, FakeDurable()).process(body)


async def test_lifecycle_events_go_to_the_keeper_and_missed_reconciles_everything_once(
    state: StateStore,
) -> None:
    durable, keeper = FakeDurable(), FakeKeeper()
    processor = DriftProcessor(state, durable, keeper)
    events = [
        {"subscriptionId": OURS, "lifecycleEvent": "reauthorizationRequired"},
        {"subscriptionId": GONE, "lifecycleEvent": "subscriptionRemoved"},
        {"subscriptionId": OURS, "lifecycleEvent": "missed"},
        {"subscriptionId": OURS, "lifecycleEvent": "missed"},
    ]
    outcomes = await processor.process(message(*events))
    assert [o.what for o in outcomes] == ["renewed", "recreated", "reconcile-started", "reconcile-pending"]
    assert keeper.calls == [("reauthorize", OURS), ("replace", GONE)]
    assert [(o, i) for o, i, _ in durable.started] == [("reconcile_all", "drift-missed-reconcile")]


async def test_a_change_to_a_channel_connected_to_records_requests_its_accounts_records_pass(
    state: StateStore,
) -> None:
    await state.put_value("records-channels", "19:c1@thread.tacv2", {"key": "account:abc"})
    durable = FakeDurable()
    item = {
        "subscriptionId": SUB,
        "changeType": "deleted",
        "resource": "teams('team-9')/channels('19:c1@thread.tacv2')",
    }
    outcomes = await DriftProcessor(state, durable).process(message(item))
    assert [o.what for o in outcomes] == ["records-started"]
    ((orchestrator, instance, data),) = durable.started
    assert orchestrator == "sync_records" and data["key"] == "account:abc"
    assert instance == "records-account_3Aabc"
    assert await state.requests_counted("records", "account:abc") == 1


async def test_the_creations_own_owner_arriving_after_the_team_is_mapped_is_an_echo(
    state: StateStore,
) -> None:
    """Graph's notification for the first owner the creation call adds can arrive after the pass
    has mapped the new team (webhooks are not ordered or prompt): an echo, not drift that costs
    every new team a second pass."""
    create = CreateTeam(
        key=KEY, reason="new store", display_name="Store 42", mail_nickname="store0042", first_owner="u-own"
    )
    await note_plan_changes(state, Plan(operations=(create,)), {str(KEY): "new-team"})
    await team_records.put_team(state, TeamRecord(key=str(KEY), team_id="new-team"))
    owner = {
        "subscriptionId": SUB,
        "changeType": "created",
        "resource": f"teams('new-team')/members('{membership('new-team', 'u-own')}')",
    }
    someone = {**owner, "resource": f"teams('new-team')/members('{membership('new-team', 'u-x')}')"}
    outcomes = await DriftProcessor(state, FakeDurable()).process(message(owner, someone))
    assert [o.what for o in outcomes] == ["echo", "sync-started"]

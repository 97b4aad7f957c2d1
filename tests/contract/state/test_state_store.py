"""The state store's contract, passed by both backends: SQLite and Azure Tables (on Azurite)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from local import azurite as azurite_tables
from shared.domain.plan import Problem, ProblemKind
from shared.drift import subscription_records
from shared.spine import RequestQueue
from shared.spine.features import TASK_PAIRS, TEAMS
from shared.state import CachedIdentity, StateConflict, StateStore, TeamRecord
from shared.state import teams as team_records
from shared.state.backend import InvalidKey
from shared.state.sqlite import SqliteBackend
from shared.state.store import ECHOES as ECHOES_TABLE
from shared.state.table import TableBackend
from shared.sync import records as sync_records
from shared.sync.records import SyncRecord


@pytest.fixture(scope="module")
def azurite() -> Iterator[str]:
    if not azurite_tables.installed():
        if os.environ.get("CI"):
            pytest.fail("Azurite is not installed: run `make test` (it runs `npm ci`)")
        pytest.skip("Azurite not installed (run `npm ci`)")
    with azurite_tables.running_azurite_tables() as connection_string:
        yield connection_string


@pytest.fixture(params=["sqlite", "table"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateStore]:
    if request.param == "sqlite":
        backend: SqliteBackend | TableBackend = SqliteBackend(tmp_path / "state.sqlite")
    else:
        conn = request.getfixturevalue("azurite")
        backend = TableBackend.from_connection_string(conn, prefix="t" + os.urandom(4).hex())
    s = StateStore(backend)
    yield s
    await s.close()


async def test_team_mapping_round_trips(store: StateStore) -> None:
    assert await team_records.get_team(store, "store:0042") is None
    await team_records.put_team(
        store, TeamRecord(key="store:0042", team_id="t-1", adopted=True, managed_user_ids=["u1", "u2"])
    )
    got = await team_records.get_team(store, "store:0042")
    assert got is not None and got.team_id == "t-1" and got.adopted and got.managed_user_ids == ["u1", "u2"]
    await team_records.put_team(store, TeamRecord(key="store:0043", team_id="t-2"))
    assert sorted(r.key for r in await team_records.list_teams(store)) == ["store:0042", "store:0043"]
    # A big store's identity cache (450 people) survives the round trip (Azure Tables: chunked).
    cache = {
        f"p{i}@contoso.example": CachedIdentity(user_id=f"{i:036d}", at=datetime.now(UTC)) for i in range(450)
    }
    await team_records.put_team(store, TeamRecord(key="store:0044", team_id="t-3", identities=cache))
    big = await team_records.get_team(store, "store:0044")
    assert big is not None and big.identities == cache


async def test_sync_result_keeps_problems(store: StateStore) -> None:
    problem = Problem(
        kind=ProblemKind.UNRESOLVED_IDENTITY, detail="no Entra user", store="0042", personnel_number="000321"
    )
    await sync_records.record_sync(store, SyncRecord(key="store:0042", outcome="blocked", problems=[problem]))
    got = await sync_records.get_sync(store, "store:0042")
    assert got is not None and got.outcome == "blocked" and got.problems == [problem]
    assert [s.key for s in await sync_records.list_syncs(store)] == ["store:0042"]


async def test_an_event_id_is_claimed_once_even_when_raced(store: StateStore) -> None:
    results = await asyncio.gather(*(store.claim_event("be:E-1") for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    assert await store.claim_event("be:E-2") is True


async def test_control_numbers_only_move_forward(store: StateStore) -> None:
    assert await store.note_control_number("store:0042", 10) is True
    assert await store.note_control_number("store:0042", 10) is False
    assert await store.note_control_number("store:0042", 7) is False
    assert await store.note_control_number("store:0042", 11) is True
    assert await store.note_control_number("store:0043", 1) is True


async def test_forgetting_old_events_allows_nothing_new_to_slip(store: StateStore) -> None:
    await store.claim_event("be:old")
    removed = await store.forget_events_before(datetime.now(UTC) + timedelta(seconds=1))
    assert removed == 1
    assert await store.claim_event("be:old") is True


async def test_latest_drift_report_is_readable(store: StateStore) -> None:
    assert await sync_records.get_report(store) is None
    first = await sync_records.save_report(store, {"stores": 1}, {"0042": {"drift": ["member missing"]}})
    second = await sync_records.save_report(
        store, {"stores": 2}, {"0042": {"drift": []}, "0043": {"drift": ["x" * 70_000]}}
    )
    latest = await sync_records.get_report(store)
    assert latest is not None and latest["id"] == second and set(latest["stores"]) == {"0042", "0043"}
    assert latest["stores"]["0043"]["drift"][0] == "x" * 70_000  # larger than one Table property
    old = await sync_records.get_report(store, first)
    assert old is not None and old["stores"]["0042"]["drift"] == ["member missing"]


async def test_own_changes_expire(store: StateStore) -> None:
    await store.note_own_change("team:t-1/member:u1", ttl=timedelta(minutes=5))
    await store.note_own_change("team:t-1/member:u2", ttl=timedelta(seconds=-1))
    assert await store.is_own_change("team:t-1/member:u1") is True
    assert await store.is_own_change("team:t-1/member:u2") is False
    assert await store.is_own_change("team:t-1/member:u3") is False
    # Measured at a given time (when the webhook received the notification), not only now.
    assert (
        await store.is_own_change("team:t-1/member:u2", at=datetime.now(UTC) - timedelta(seconds=30)) is True
    )
    assert (
        await store.is_own_change("team:t-1/member:u1", at=datetime.now(UTC) + timedelta(minutes=6)) is False
    )


async def test_audit_trail_keeps_order(store: StateStore) -> None:
    for i in range(3):
        await store.audit("dlq", {"n": i})
    assert [r["n"] for r in await store.audit_trail("dlq")] == [0, 1, 2]


async def test_stale_etag_is_a_conflict(store: StateStore) -> None:
    first = await store.backend.upsert("misc", "p", "r/with#odd?chars", {"v": 1})
    await store.backend.upsert("misc", "p", "r/with#odd?chars", {"v": 2}, if_match=first.etag)
    with pytest.raises(StateConflict):
        await store.backend.upsert("misc", "p", "r/with#odd?chars", {"v": 3}, if_match=first.etag)
    got = await store.backend.get("misc", "p", "r/with#odd?chars")
    assert got is not None and got.data == {"v": 2} and got.row == "r/with#odd?chars"


async def test_requests_made_during_a_pass_cause_exactly_one_more(store: StateStore) -> None:
    teams = RequestQueue(store, TEAMS)
    await teams.request("store:0042")
    covered = await teams.seen("store:0042")  # a pass starts
    await teams.request("store:0042")  # two events arrive while it runs
    await teams.request("store:0042")
    assert await teams.pending() == ["store:0042"]
    assert await teams.finish("store:0042", covered) is True  # one more pass
    covered = await teams.seen("store:0042")
    assert await teams.finish("store:0042", covered) is False
    assert await teams.pending() == []
    assert await teams.finish("store:0099", 0) is False


async def test_concurrent_requests_are_all_counted(store: StateStore) -> None:
    teams = RequestQueue(store, TEAMS)
    numbers = await asyncio.gather(*(teams.request("store:0042") for _ in range(6)))
    assert sorted(numbers) == [1, 2, 3, 4, 5, 6]


async def test_a_lease_has_one_holder_until_released_or_expired(store: StateStore) -> None:
    assert await store.acquire_lease("store:0042", "a", timedelta(minutes=5)) is True
    assert await store.acquire_lease("store:0042", "b", timedelta(minutes=5)) is False
    assert await store.acquire_lease("store:0042", "a", timedelta(minutes=5)) is True  # renewal
    await store.release_lease("store:0042", "b")  # not the holder: no effect
    assert await store.acquire_lease("store:0042", "b", timedelta(minutes=5)) is False
    await store.release_lease("store:0042", "a")
    assert await store.acquire_lease("store:0042", "b", timedelta(seconds=-1)) is True
    assert await store.acquire_lease("store:0042", "c", timedelta(minutes=5)) is True  # b's expired
    results = await asyncio.gather(
        *(store.acquire_lease("store:0043", f"o{i}", timedelta(minutes=1)) for i in range(5))
    )
    assert sorted(results) == [False, False, False, False, True]


async def test_person_index_follows_the_teams_they_are_in(store: StateStore) -> None:
    await team_records.put_team(
        store, TeamRecord(key="store:0042", team_id="t-1", managed_personnel=["000321", "000400"])
    )
    await team_records.put_team(
        store, TeamRecord(key="store:0043", team_id="t-2", managed_personnel=["000321"])
    )
    assert await team_records.teams_of_person(store, "000321") == ["store:0042", "store:0043"]
    await team_records.put_team(
        store, TeamRecord(key="store:0042", team_id="t-1", managed_personnel=["000400"])
    )
    assert await team_records.teams_of_person(store, "000321") == ["store:0043"]
    assert await team_records.team_key_of(store, "t-2") == "store:0043"
    assert await team_records.team_key_of(store, "t-9") is None


async def test_events_are_marked_only_when_handled(store: StateStore) -> None:
    assert await store.event_seen("be:E-9") is False
    await store.mark_event("be:E-9")
    await store.mark_event("be:E-9")
    assert await store.event_seen("be:E-9") is True
    assert await store.last_control_number("store:0042") is None
    await store.note_control_number("store:0042", 5)
    assert await store.last_control_number("store:0042") == 5


async def test_counters_add_up_under_concurrency(store: StateStore) -> None:
    await asyncio.gather(*(store.bump("events_received") for _ in range(10)))
    await store.bump("duplicates_skipped", 3)
    assert await store.counters() == {"duplicates_skipped": 3, "events_received": 10}


async def test_many_own_changes_are_noted_and_found(store: StateStore) -> None:
    noted = await store.note_own_changes(
        ["team:t-1/user:u1/created", "team:t-1/user:u1/created", "team:t-1/channels/created"],
        ttl=timedelta(minutes=5),
    )
    assert noted == 2
    assert await store.any_own_change(["team:t-1/member:m9/created", "team:t-1/user:u1/created"]) == (
        "team:t-1/user:u1/created"
    )
    assert await store.any_own_change(["team:t-1/user:u1/deleted"]) is None


async def test_more_own_changes_than_one_batch_holds_are_all_noted(store: StateStore) -> None:
    """Noted in batched writes of at most 100 (Azure Tables' entity group transaction limit)."""
    keys = [f"team:t-2/user:u{i:03d}/created" for i in range(250)]
    assert await store.note_own_changes(keys, ttl=timedelta(minutes=5)) == 250
    for key in (keys[0], keys[99], keys[100], keys[249]):
        assert await store.any_own_change([key]) == key


async def test_many_rows_are_read_in_one_call_as_each_alone(store: StateStore) -> None:
    """`get_many` (a batch of notifications' echo keys and team ids) gives what `get` gives for
    each row: the rows found, whatever their number (SQLite reads 500 per query), and nothing for
    the absent, the repeated or the empty request; a key Table Storage refuses is refused."""
    keys = [f"team:t-3/user:u{i:04d}/created" for i in range(0, 1_200, 2)]
    await store.note_own_changes(keys, ttl=timedelta(minutes=5))
    await store.note_own_change("team:t-3/user:gone/deleted", ttl=timedelta(seconds=-5))
    asked = (
        [f"team:t-3/user:u{i:04d}/created" for i in range(1_200)] + keys[:3] + ["team:t-3/user:gone/deleted"]
    )
    notes = await store.own_changes(asked)
    assert set(notes) == {*keys, "team:t-3/user:gone/deleted"}
    assert notes["team:t-3/user:gone/deleted"] < datetime.now(UTC) < notes[keys[0]]  # expiry as written
    for key in (keys[0], keys[-1], "team:t-3/user:u0001/created"):
        alone = await store.backend.get(ECHOES_TABLE, "own", key)
        assert (alone is None) == (key not in notes)
    assert await store.own_changes([]) == {}
    await team_records.put_team(store, TeamRecord(key="store:0042", team_id="t-1"))
    await team_records.put_team(store, TeamRecord(key="store:0043", team_id="t-2"))
    assert await team_records.team_keys_of(store, ["t-2", "t-9", "t-1", "t-2"]) == {
        "t-1": "store:0042",
        "t-2": "store:0043",
    }
    with pytest.raises(InvalidKey):
        await store.backend.get_many(ECHOES_TABLE, "own", ["ok", "a\ud800b"])


async def test_expired_own_changes_are_forgotten(store: StateStore) -> None:
    await store.note_own_change("team:t-1/user:old/deleted", ttl=timedelta(seconds=-5))
    await store.note_own_change("team:t-1/user:new/deleted", ttl=timedelta(minutes=5))
    assert await store.forget_own_changes_before(datetime.now(UTC)) == 1
    assert await store.is_own_change("team:t-1/user:new/deleted") is True


async def test_housekeeping_purges_many_rows_in_batches_and_keeps_the_rest(store: StateStore) -> None:
    """More than one entity group transaction's worth (100) of expired rows, among live ones."""
    expired = [f"team:t-3/user:x{i:03d}/created" for i in range(230)]
    live = [f"team:t-3/user:y{i:03d}/created" for i in range(20)]
    await store.note_own_changes(expired, ttl=timedelta(hours=-2))
    await store.note_own_changes(live, ttl=timedelta(minutes=5))
    for i in range(130):
        await store.mark_event(f"be:{i:03d}")
    assert await store.forget_own_changes_before(datetime.now(UTC) - timedelta(hours=1)) == 230
    assert await store.forget_own_changes_before(datetime.now(UTC) - timedelta(hours=1)) == 0
    assert all([await store.is_own_change(k) for k in live])
    assert await store.any_own_change(expired, at=datetime.now(UTC) - timedelta(hours=3)) is None
    assert await store.forget_events_before(datetime.now(UTC) - timedelta(days=1)) == 0
    assert await store.forget_events_before(datetime.now(UTC) + timedelta(seconds=1)) == 130
    assert not await store.event_seen("be:000") and not await store.event_seen("be:129")


async def test_subscription_records_round_trip_without_the_client_state(store: StateStore) -> None:
    from shared.domain.subscriptions import Subscription

    expiry = datetime(2030, 1, 1, tzinfo=UTC)
    sub = Subscription(
        subscription_id="s-1",
        resource="/teams/getAllMembers",
        change_type="created,deleted",
        notification_url="https://x/api/graph/notifications?code=k",
        expiration=expiry,
        lifecycle_notification_url="https://x/api/graph/lifecycle?code=k",
        client_state="secret",
    )
    await subscription_records.put_subscription(store, sub)
    got = await subscription_records.get_subscription(store, "s-1")
    assert got is not None and got.client_state is None and got.expiration == expiry
    assert got.resource == "/teams/getAllMembers"
    assert [s.subscription_id for s in await subscription_records.list_subscriptions(store)] == ["s-1"]
    await subscription_records.delete_subscription(store, "s-1")
    assert (
        await subscription_records.get_subscription(store, "s-1") is None
        and await subscription_records.list_subscriptions(store) == []
    )


async def test_pair_status_rows_round_trip_and_list(store: StateStore) -> None:
    from shared.domain.tasks import TaskStatus
    from shared.mirror.pairs import delete_pair, get_pair, list_pairs, put_pair
    from shared.tasks import CommerceSide, PairStatus

    side = CommerceSide.make(TaskStatus.COMPLETED, "000322", version='W/"1"')
    pair = PairStatus(key="TL-7/1@0042", plan_id="p-1", commerce=side, tombstone=True)
    assert await get_pair(store, pair.key) is None
    await put_pair(store, pair)
    assert await get_pair(store, pair.key) == pair
    assert [p.key for p in await list_pairs(store)] == ["TL-7/1@0042"]
    await delete_pair(store, pair.key)
    assert await list_pairs(store) == []


async def test_mirror_requests_are_counted_apart_from_team_syncs(store: StateStore) -> None:
    from shared.mirror.pairs import MirrorRecord, get_mirror, list_mirrors, record_mirror

    mirrors, teams = RequestQueue(store, TASK_PAIRS), RequestQueue(store, TEAMS)
    assert await mirrors.request("TL-7/1@0042") == 1
    assert await mirrors.request("TL-7/1@0042") == 2
    assert await mirrors.pending() == ["TL-7/1@0042"] and await teams.pending() == []
    covered = await mirrors.seen("TL-7/1@0042")
    await mirrors.request("TL-7/1@0042")
    assert await mirrors.finish("TL-7/1@0042", covered) is True
    assert await mirrors.finish("TL-7/1@0042", 3) is False and await mirrors.pending() == []
    problem = Problem(kind=ProblemKind.PLANNER_LIMIT, detail="403 MaximumTasksInProject", store="0042")
    await record_mirror(store, MirrorRecord(key="TL-7/1@0042", outcome="held", problems=[problem]))
    got = await get_mirror(store, "TL-7/1@0042")
    assert got is not None and got.problems == [problem] and len(await list_mirrors(store)) == 1
    await store.put_value("plan", "0042", {"plan_id": "p-1"})
    assert await store.get_value("plan", "0042") == {"plan_id": "p-1"}


async def test_a_batch_write_is_all_or_nothing_and_deleting_an_absent_row_is_no_error(
    store: StateStore,
) -> None:
    from shared.state.backend import Write

    await store.backend.write("misc", "p", [Write("a", {"v": 1}), Write("b", {"v": 2}), Write("gone", None)])
    assert [e.row async for e in store.backend.query("misc", "p")] == ["a", "b"]
    await store.backend.write("misc", "p", [Write("a", None), Write("c", {"v": 3})])
    assert [(e.row, e.data) async for e in store.backend.query("misc", "p")] == [
        ("b", {"v": 2}),
        ("c", {"v": 3}),
    ]
    with pytest.raises(ValueError):
        await store.backend.write("misc", "p", [Write(f"r{i}", {}) for i in range(101)])
    assert [e.row async for e in store.backend.query("misc", "p")] == ["b", "c"]


async def test_a_range_read_returns_only_rows_in_the_range(store: StateStore) -> None:
    for row in ("~x:1:a", "~x:1:b", "~x:10:a", "~x:2:a", "store:1"):
        await store.backend.upsert("misc", "p", row, {"row": row})
    got = [e.row async for e in store.backend.query("misc", "p", start="~x:1:", stop="~x:1;")]
    assert got == ["~x:1:a", "~x:1:b"]
    assert [e.row async for e in store.backend.query("misc", "p", stop="~")] == ["store:1"]


async def test_reverse_lookups_follow_a_team_that_is_replaced_and_a_big_team(store: StateStore) -> None:
    # A team id change moves the id index; 230 people (more than one transaction) are all indexed.
    people = [f"{i:06d}" for i in range(230)]
    await team_records.put_team(
        store, TeamRecord(key="communications:hq", team_id="t-old", managed_personnel=people)
    )
    await team_records.put_team(
        store, TeamRecord(key="communications:hq", team_id="t-new", managed_personnel=people[5:])
    )
    assert await team_records.team_key_of(store, "t-old") is None
    assert await team_records.team_key_of(store, "t-new") == "communications:hq"
    assert await team_records.teams_of_person(store, "000004") == []
    assert await team_records.teams_of_person(store, "000229") == ["communications:hq"]
    assert [r.key for r in await team_records.list_teams(store)] == [
        "communications:hq"
    ]  # index rows not listed


async def test_records_saved_before_the_indexes_existed_are_indexed_once(store: StateStore) -> None:
    from shared.state.store import MAPPINGS

    old = TeamRecord(key="store:0042", team_id="t-1", managed_personnel=["000321"])
    # Saved as an older version did: the record alone.
    await store.backend.upsert(MAPPINGS, "team", old.key, old.model_dump(mode="json"))
    assert await team_records.team_key_of(store, "t-1") is None
    assert await team_records.ensure_indexes(store) == 1
    assert await team_records.team_key_of(store, "t-1") == "store:0042"
    assert await team_records.teams_of_person(store, "000321") == ["store:0042"]
    assert await team_records.ensure_indexes(store) == 0

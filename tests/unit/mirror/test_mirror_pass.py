"""The mirror's glue with an in-memory Planner and Commerce (ETags, 412s) and a real SQLite state
store: the executor contract of shared/tasks/decide.py, Planner limits as problems, keys."""

from __future__ import annotations

import pytest

from shared.domain.events import CommerceHint, EventFormat, HintScope
from shared.domain.tasks import TaskStatus
from shared.mirror import PairKey, instance_id, keys_of_hint, mirror_pass, needs_pass, reconcile_keys
from shared.mirror.pairs import get_mirror, get_pair, put_pair
from shared.settings import Settings
from shared.state import StateStore
from tests.unit.mirror.fakes import FakeCommerce, FakePlanner, store_task

KEY = "TL-7/1@0042"


async def run(key: str, commerce: FakeCommerce, planner: FakePlanner, state: StateStore) -> str:
    result = await mirror_pass(key, commerce=commerce, gateway=planner, state=state, settings=Settings())
    return result.outcome


def test_keys_parse_and_name_one_orchestration_per_pair() -> None:
    key = PairKey.parse("TL-7/1@0042")
    assert (key.task_list, key.task, key.store) == ("TL-7", "1", "0042") and str(key) == "TL-7/1@0042"
    assert instance_id("TL-7/1@0042") == instance_id("TL-7/1@0042") != instance_id("TL-7_1@0042")
    assert instance_id("TL-7/1@0042") == "mirror-TL-7_2F1_400042"
    with pytest.raises(ValueError):
        PairKey.parse("TL-7@0042")


async def test_a_new_store_task_creates_plan_bucket_and_task_and_a_second_pass_writes_nothing(
    state: StateStore,
) -> None:
    commerce, planner = FakeCommerce([store_task()]), FakePlanner()
    assert await run(KEY, commerce, planner, state) == "created"
    assert list(planner.plans) == ["plan-team-42"] and [b.name for b in planner.buckets.values()] == [
        "Holiday reset"
    ]
    pair = await get_pair(state, KEY)
    assert pair is not None and pair.planner is not None and pair.planner.task_id in planner.tasks
    # The recorded ETag is the task's current one (after the details write): the poll sees no change.
    assert pair.planner.etag == planner.tasks[pair.planner.task_id].etag
    planner.calls.clear()
    assert await run(KEY, commerce, planner, state) == "in_sync"
    assert planner.calls == [] and commerce.writes == []


async def test_completed_in_teams_writes_who_and_when_to_commerce(state: StateStore) -> None:
    commerce, planner = FakeCommerce([store_task()]), FakePlanner()
    await run(KEY, commerce, planner, state)
    task_id = (await get_pair(state, KEY)).planner.task_id  # type: ignore[union-attr]
    planner.act(task_id, "user-ben", percent_complete=100)
    assert await run(KEY, commerce, planner, state) == "updated_commerce"
    row = commerce.rows[KEY]
    assert row.status is TaskStatus.COMPLETED and row.completed_by == "000322"
    assert row.completed_at == planner.tasks[task_id].completed
    assert await run(KEY, commerce, planner, state) == "in_sync"  # our write is not a Commerce change


async def test_a_412_re_reads_and_decides_again(state: StateStore) -> None:
    commerce, planner = FakeCommerce([store_task()]), FakePlanner()
    await run(KEY, commerce, planner, state)
    commerce.edit(KEY, status=TaskStatus.IN_PROGRESS)
    planner.stale_next_patch = 1
    assert await run(KEY, commerce, planner, state) == "updated_planner"
    assert planner.calls.count("patch") == 2
    task_id = (await get_pair(state, KEY)).planner.task_id  # type: ignore[union-attr]
    assert planner.tasks[task_id].percent_complete == 50
    assert (await state.counters())["tasks.stale_rounds"] == 1


async def test_a_planner_limit_is_recorded_as_a_problem_and_retried_next_pass(state: StateStore) -> None:
    commerce, planner = FakeCommerce([store_task()]), FakePlanner()
    planner.limit_on_create = True
    assert await run(KEY, commerce, planner, state) == "held"
    record = await get_mirror(state, KEY)
    assert record is not None and [p.kind.value for p in record.problems] == ["planner limit"]
    assert "MaximumTasksInProject" in (record.error or "")
    assert await get_pair(state, KEY) is None
    planner.limit_on_create = False
    assert await run(KEY, commerce, planner, state) == "created"


async def test_cancel_deletes_and_keeps_a_tombstone_even_when_already_deleted(state: StateStore) -> None:
    commerce, planner = FakeCommerce([store_task()]), FakePlanner()
    await run(KEY, commerce, planner, state)
    commerce.edit(KEY, status=TaskStatus.CANCELED)
    planner.tasks.clear()  # deleted by hand meanwhile: the 404 on DELETE counts as done
    assert await run(KEY, commerce, planner, state) == "tombstoned"
    pair = await get_pair(state, KEY)
    assert pair is not None and pair.tombstone and not needs_pass(commerce.rows[KEY], pair)
    assert await run(KEY, commerce, planner, state) == "tombstoned" and planner.tasks == {}


async def test_a_store_without_a_team_is_blocked_and_reported(state: StateStore) -> None:
    commerce, planner = FakeCommerce([store_task().model_copy(update={"store": "0099"})]), FakePlanner()
    assert await run("TL-7/1@0099", commerce, planner, state) == "blocked"
    record = await get_mirror(state, "TL-7/1@0099")
    assert record is not None and "0099 has no team" in record.problems[0].detail


async def test_task_hints_name_pairs_and_reconciliation_finds_unseen_versions(state: StateStore) -> None:
    commerce = FakeCommerce([store_task("1"), store_task("2")])
    one = CommerceHint(scope=HintScope.TASK, ids={"task_list": "TL-7", "task": "1", "store": "0042"},
                       event_id="e1", event_type="x", format=EventFormat.BUSINESS_EVENT)  # fmt: skip
    listed = one.model_copy(update={"scope": HintScope.TASK_LIST, "ids": {"task_list": "TL-7"}})
    assert await keys_of_hint(one, commerce) == [KEY]
    assert await keys_of_hint(listed, commerce) == ["TL-7/1@0042", "TL-7/2@0042"]
    await run(KEY, commerce, FakePlanner(), state)
    assert await reconcile_keys(commerce, state) == ["TL-7/2@0042"]
    commerce.edit(KEY, notes="changed")
    assert await reconcile_keys(commerce, state) == ["TL-7/1@0042", "TL-7/2@0042"]


async def test_a_create_whose_response_was_lost_is_adopted_not_created_twice(state: StateStore) -> None:
    commerce, planner = FakeCommerce([store_task()]), FakePlanner()
    planner.lose_next_create_response = True
    with pytest.raises(TimeoutError):
        await run(KEY, commerce, planner, state)  # the activity fails; its retry is the next pass
    [orphan] = planner.tasks
    pending = await get_pair(state, KEY)
    assert pending is not None and pending.unfinished_create
    assert await run(KEY, commerce, planner, state) == "updated_planner"  # the description, now
    assert list(planner.tasks) == [orphan] and planner.calls.count("create") == 1
    pair = await get_pair(state, KEY)
    assert pair is not None and pair.planner is not None and pair.planner.task_id == orphan
    assert not pair.unfinished_create
    assert "TL-7" in (planner.details[orphan].description or "")  # the footer naming the Commerce task
    record = await get_mirror(state, KEY)
    assert record is not None and not record.problems  # not reported as an edit made in Teams
    assert (await state.counters())["tasks.orphans_adopted"] == 1
    assert await run(KEY, commerce, planner, state) == "in_sync"


async def test_an_interrupted_create_that_never_reached_planner_creates_once(state: StateStore) -> None:
    commerce, planner = FakeCommerce([store_task()]), FakePlanner()
    planner.refuse_next_create = True  # a connection error before Planner saw the request
    with pytest.raises(ConnectionError):
        await run(KEY, commerce, planner, state)
    assert planner.tasks == {} and (await get_pair(state, KEY)).unfinished_create  # type: ignore[union-attr]
    assert await run(KEY, commerce, planner, state) == "created"
    assert len(planner.tasks) == 1 and planner.calls.count("list_tasks") == 1
    assert "tasks.orphans_adopted" not in await state.counters()
    pair = await get_pair(state, KEY)
    assert pair is not None and not pair.unfinished_create


async def test_a_person_s_own_task_with_the_same_title_made_before_is_not_adopted(state: StateStore) -> None:
    commerce, planner = FakeCommerce([store_task()]), FakePlanner()
    await run(KEY, commerce, planner, state)
    first = (await get_pair(state, KEY)).planner.task_id  # type: ignore[union-attr]
    # Another pair's create is interrupted in the same plan; the only same-titled task is ours.
    other = "TL-7/2@0042"
    commerce.rows[other] = store_task("2")  # also titled "Build"
    planner.refuse_next_create = True
    with pytest.raises(ConnectionError):
        await run(other, commerce, planner, state)
    assert await run(other, commerce, planner, state) == "created"
    ids = {(await get_pair(state, k)).planner.task_id for k in (KEY, other)}  # type: ignore[union-attr]
    assert len(ids) == 2 and first in ids and len(planner.tasks) == 2


async def test_an_interrupted_create_in_a_plan_that_is_gone_does_not_fail_forever(state: StateStore) -> None:
    commerce, planner = FakeCommerce([store_task()]), FakePlanner()
    planner.refuse_next_create = True
    with pytest.raises(ConnectionError):
        await run(KEY, commerce, planner, state)
    pending = await get_pair(state, KEY)
    assert pending is not None and pending.unfinished_create
    await put_pair(state, pending.model_copy(update={"plan_id": "plan-deleted"}))
    await run(KEY, commerce, planner, state)  # no NotFound from the orphan lookup
    assert not (await get_pair(state, KEY)).unfinished_create  # type: ignore[union-attr]

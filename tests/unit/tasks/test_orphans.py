"""Adopting the task an interrupted create left behind (shared/tasks/orphans.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from shared.domain.planner import PlannerTask
from shared.domain.tasks import TaskStatus
from shared.tasks import PairStatus, PlannerSide, find_orphan

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BUCKETS = {"b1": "Holiday reset", "b2": "Spring"}


def pending(title: str = "Build", bucket: str | None = "Holiday reset") -> PairStatus:
    side = PlannerSide.make(task_id=None, status=TaskStatus.NOT_STARTED, assignee_ids=frozenset(),
                            title=title, bucket=bucket, due=None, description_hash="h")  # fmt: skip
    return PairStatus(key="TL-7/1@0042", plan_id="p", planner=side).creating(T0)


def task(
    task_id: str, title: str = "Build", bucket: str = "b1", created: datetime | None = T0
) -> PlannerTask:
    return PlannerTask(task_id=task_id, plan_id="p", title=title, bucket_id=bucket, created=created)


def test_the_task_made_by_the_interrupted_create_is_found() -> None:
    made = task("t1", created=T0 + timedelta(seconds=1))
    assert find_orphan(pending(), [task("t0", title="Other"), made], BUCKETS, set()) == made


def test_nothing_is_adopted_without_an_unfinished_create() -> None:
    done = pending().created("t9")
    assert not done.unfinished_create and done.creating_since is None
    assert find_orphan(done, [task("t1")], BUCKETS, set()) is None
    assert (
        find_orphan(pending().model_copy(update={"creating_since": None}), [task("t1")], BUCKETS, set())
        is None
    )


def test_other_pairs_tasks_other_buckets_and_older_tasks_are_never_taken() -> None:
    tasks = [
        task("claimed"),
        task("other-bucket", bucket="b2"),
        task("old", created=T0 - timedelta(hours=1)),
    ]
    assert find_orphan(pending(), tasks, BUCKETS, {"claimed"}) is None


def test_the_earliest_candidate_wins_and_a_small_clock_skew_is_tolerated() -> None:
    skewed = task("skewed", created=T0 - timedelta(minutes=2))
    later = task("later", created=T0 + timedelta(minutes=1))
    assert find_orphan(pending(), [later, skewed], BUCKETS, set()) == skewed


def test_adopting_forgets_the_description_so_the_next_decision_writes_it() -> None:
    adopted = pending().adopted("t1", 'W/"x"')
    assert adopted.planner is not None and adopted.planner.task_id == "t1" and adopted.planner.etag == 'W/"x"'
    assert adopted.planner.description_hash is None and not adopted.unfinished_create


@given(st.lists(st.tuples(st.sampled_from(["Build", "Count"]), st.sampled_from(["b1", "b2"]),
                          st.integers(-600, 600)), max_size=8),
       st.sets(st.integers(0, 7)))  # fmt: skip
def test_a_found_orphan_always_matches_and_is_never_claimed(
    specs: list[tuple[str, str, int]], claimed_at: set[int]
) -> None:
    tasks = [
        task(f"t{i}", title, bucket, T0 + timedelta(seconds=s)) for i, (title, bucket, s) in enumerate(specs)
    ]
    claimed = {f"t{i}" for i in claimed_at}
    found = find_orphan(pending(), tasks, BUCKETS, claimed)
    eligible = [t for t in tasks if t.task_id not in claimed and t.title == "Build" and t.bucket_id == "b1"
                and t.created is not None and t.created >= T0 - timedelta(minutes=5)]  # fmt: skip
    assert (found is None) == (not eligible)
    if found is not None:
        assert found in eligible and all(found.created <= t.created for t in eligible)  # type: ignore[operator]

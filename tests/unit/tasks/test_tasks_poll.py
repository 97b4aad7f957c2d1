"""Poll planning: which plans are read, in how many $batch requests, and which tasks changed."""

from __future__ import annotations

import math

import pytest

from shared.domain.planner import PlannerTask
from shared.domain.tasks import TaskStatus
from shared.settings import TaskSettings
from shared.tasks import (
    BATCH_LIMIT,
    CommerceSide,
    DeltaLinks,
    PairStatus,
    PlannerSide,
    plan_changes,
    plans_to_poll,
    poll_batches,
)


def pair(
    n: int, plan: str, status: TaskStatus = TaskStatus.NOT_STARTED, tombstone: bool = False
) -> PairStatus:
    planner = PlannerSide.make(
        task_id=f"t{n}",
        etag=f"e{n}",
        status=status,
        assignee_ids=frozenset(),
        title="x",
        bucket="b",
        due=None,
        description_hash=None,
    )
    return PairStatus(
        key=f"TL/{n}@{plan}",
        plan_id=plan,
        commerce=CommerceSide.make(status, None),
        planner=None if tombstone else planner,
        tombstone=tombstone,
    )


def listed(plan: str, *etags: tuple[int, str]) -> list[PlannerTask]:
    return [PlannerTask(task_id=f"t{n}", plan_id=plan, title="x", etag=etag) for n, etag in etags]


def test_only_plans_with_open_mirrored_tasks_are_polled() -> None:
    statuses = [
        pair(1, "open-plan"),
        pair(2, "done-plan", TaskStatus.COMPLETED),
        pair(3, "gone-plan", tombstone=True),
        pair(4, "open-plan", TaskStatus.COMPLETED),
    ]
    assert plans_to_poll(statuses) == ("open-plan",)


@pytest.mark.parametrize("plans", [0, 1, 20, 21, 45])
def test_a_quiet_poll_costs_one_request_per_20_plans(plans: int) -> None:
    batches = poll_batches(f"plan-{i}" for i in range(plans))
    assert len(batches) == math.ceil(plans / BATCH_LIMIT)
    assert all(len(b.requests) <= BATCH_LIMIT for b in batches)
    urls = [r.url for b in batches for r in b.requests]
    assert urls == [f"/planner/plans/plan-{i}/tasks" for i in range(plans)]


def test_batch_size_above_the_graph_limit_is_refused() -> None:
    with pytest.raises(ValueError, match=r"1\.\.20"):
        poll_batches(["p"], size=21)


def test_only_tasks_whose_etag_moved_are_processed() -> None:
    statuses = [pair(1, "p"), pair(2, "p"), pair(3, "p")]
    (changes,) = plan_changes(
        statuses, {"p": listed("p", (1, "e1"), (2, "e2-new"), (3, "e3"), (9, "e9"))}, TaskSettings()
    )
    assert changes.changed == ("TL/2@p",)
    assert changes.missing == ()
    assert changes.unchanged == 2
    assert changes.to_process == ("TL/2@p",)


def test_a_few_missing_tasks_are_processed_as_deletions() -> None:
    statuses = [pair(n, "p") for n in range(1, 7)]
    (changes,) = plan_changes(
        statuses, {"p": listed("p", *[(n, f"e{n}") for n in range(2, 7)])}, TaskSettings()
    )
    assert changes.missing == ("TL/1@p",) and not changes.held


def test_a_plan_that_suddenly_shows_none_of_many_mirrored_tasks_is_held() -> None:
    statuses = [pair(n, "p") for n in range(1, 7)]
    (changes,) = plan_changes(statuses, {"p": []}, TaskSettings())
    assert len(changes.missing) == 6 and changes.held


def test_small_plans_are_not_guarded() -> None:
    statuses = [pair(1, "p"), pair(2, "p")]
    (changes,) = plan_changes(statuses, {"p": []}, TaskSettings())
    assert not changes.held


def test_delta_links_are_kept_per_plan_and_dropped_when_expired() -> None:
    links = DeltaLinks()
    assert links.request_for("p") == "/planner/plans/p/tasks/delta"
    links = links.advanced("p", "https://graph/beta/...$deltatoken=abc")
    assert links.request_for("p").endswith("abc")
    assert links.expired("p").request_for("p") == "/planner/plans/p/tasks/delta"

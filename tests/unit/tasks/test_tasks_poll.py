"""Poll planning: which plans are read, in how many $batch requests, and which tasks changed."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.planner import PlannerTask
from shared.domain.tasks import TaskStatus
from shared.graph.planner import plan_tasks_delta_path, plan_tasks_path
from shared.settings import TaskSettings
from shared.tasks import (
    BATCH_LIMIT,
    CommerceSide,
    DeltaLinks,
    PairStatus,
    PlannerSide,
    delta_changes,
    plan_changes,
    plans_to_poll,
    poll_batches,
)
from shared.tasks.poll import creating_in, unmatched


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
    planned = [r.plan_id for b in batches for r in b.requests]
    assert planned == [f"plan-{i}" for i in range(plans)]
    # The Graph layer turns each into the plan's listing (shared/graph/planner.py).
    assert [plan_tasks_path(p) for p in planned] == [f"/planner/plans/plan-{i}/tasks" for i in range(plans)]


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
    assert links.request_for("p") is None  # no link yet: a snapshot round from the start URL
    assert plan_tasks_delta_path("p") == "/planner/plans/p/tasks/delta"
    links = links.advanced("p", "https://graph/beta/...$deltatoken=abc")
    assert (links.request_for("p") or "").endswith("abc")
    assert links.expired("p").request_for("p") is None


def test_an_incremental_delta_round_reports_changed_and_removed_mirrored_tasks() -> None:
    statuses = [pair(1, "p"), pair(2, "p"), pair(3, "p"), pair(4, "q")]
    reported = [PlannerTask(task_id="t1", plan_id="p", title="x", etag="e1"),  # our own echo
                PlannerTask(task_id="t2", plan_id="p", title="x", etag="e2-new"),
                PlannerTask(task_id="t99", plan_id="p", title="made by hand", etag="z")]  # fmt: skip
    found = delta_changes(statuses, "p", reported, ["t3"], TaskSettings(), snapshot=False)
    assert found.changed == ("TL/2@p",) and found.missing == ("TL/3@p",)
    assert found.unchanged == 1 and not found.held


def test_a_snapshot_delta_round_is_read_like_a_listing() -> None:
    statuses = [pair(1, "p"), pair(2, "p")]
    found = delta_changes(statuses, "p", listed("p", (1, "e1")), [], TaskSettings(), snapshot=True)
    assert found.missing == ("TL/2@p",)  # absent from a full round = deleted
    quiet = delta_changes(statuses, "p", listed("p", (1, "e1")), [], TaskSettings(), snapshot=False)
    assert quiet.missing == () and quiet.unchanged == 2  # absent from an incremental round = unchanged


# Each mirrored task, between two rounds: untouched, edited (new ETag), edited and then set back by
# our own write (same ETag as stored: an echo), or deleted.
_FATE = st.sampled_from(["same", "edited", "echo", "deleted"])


@given(st.lists(_FATE, min_size=0, max_size=30), st.integers(min_value=0, max_value=5))
def test_a_delta_round_finds_exactly_what_a_full_listing_finds(fates: list[str], by_hand: int) -> None:
    """Whatever happened to a plan's tasks since the last round, reading the changes by delta
    (only touched tasks, `@removed` for deleted ones) gives the same pairs to process, and the same
    mass-delete hold, as listing the whole plan and comparing ETags."""
    statuses = [pair(n, "p") for n in range(len(fates))]
    now = {
        n: PlannerTask(
            task_id=f"t{n}", plan_id="p", title="x", etag=f"e{n}" + ("-2" if f == "edited" else "")
        )
        for n, f in enumerate(fates)
        if f != "deleted"
    }
    hand = [PlannerTask(task_id=f"h{i}", plan_id="p", title="by hand", etag="h") for i in range(by_hand)]
    full = plan_changes(statuses, {"p": [*now.values(), *hand]}, TaskSettings())[0]
    touched = [now[n] for n, f in enumerate(fates) if f in ("edited", "echo")] + hand
    removed = [f"t{n}" for n, f in enumerate(fates) if f == "deleted"]
    delta = delta_changes(statuses, "p", touched, removed, TaskSettings(), snapshot=False)
    assert delta == full


def creating(n: int, plan: str) -> PairStatus:
    """A pair whose pass recorded "create requested" but not yet the Planner task's id."""
    status = pair(n, plan)
    assert status.planner is not None
    side = status.planner.model_copy(update={"task_id": None, "etag": None})
    return status.model_copy(update={"planner": side}).creating(datetime(2030, 1, 1, tzinfo=UTC))


def test_a_task_nobody_mirrors_is_unmatched_and_a_creating_pair_is_seen() -> None:
    statuses = [pair(1, "p"), creating(2, "p"), pair(3, "q")]
    reported = listed("p", (1, "e1"), (2, "e2"), (7, "by hand"))
    assert unmatched(statuses, "p", reported) == ("t2", "t7")
    assert creating_in(statuses, "p") and not creating_in(statuses, "q")
    assert unmatched([pair(1, "p"), pair(2, "p")], "p", reported) == ("t7",)


@given(st.booleans())
def test_a_change_reported_while_its_pair_was_being_created_is_not_lost(recorded_first: bool) -> None:
    """The race behind the delta e2e's lost completion: a pass creates task t2 (etag e2), a person
    completes it at once (etag e2-done), and a delta round reports e2-done before the pass has
    recorded t2. Read with the statuses from before the round, the change is nobody's; the round
    must not be taken as read: with a fresh read it is either the pair's change (recorded by
    then) or the plan is still being created into (the poll keeps the old deltaLink, so the next
    round reports it again)."""
    before = [pair(1, "p"), creating(2, "p")]
    reported = listed("p", (2, "e2-done"))
    stale = delta_changes(before, "p", reported, [], TaskSettings(), snapshot=False)
    assert stale.changed == () and unmatched(before, "p", reported) == ("t2",)
    fresh = [pair(1, "p"), pair(2, "p")] if recorded_first else before
    again = delta_changes(fresh, "p", reported, [], TaskSettings(), snapshot=False)
    assert again.changed == ("TL/2@p",) or creating_in(fresh, "p")

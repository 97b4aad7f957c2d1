"""The completion report of a task list (shared/tasks/report.py): counts add up, each store task
counts once, region totals are the sums of their stores, overdue is judged in the store's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.tasks import StoreTask, TaskStatus
from shared.tasks import PairStatus, PlannerSide
from shared.tasks.report import (
    NO_REGION,
    Counts,
    MirrorFacts,
    StorePlace,
    completion_report,
    mirror_facts,
)

NOW = datetime(2030, 3, 10, 5, 0, tzinfo=UTC)  # 2030-03-09 21:00 in Seattle, 06:00 in Berlin
ZONES = ("Pacific Standard Time", "W. Europe Standard Time", "Asia/Tokyo", "not a zone", None)
STORES = {
    f"{n:04d}": StorePlace(number=f"{n:04d}", region=r, time_zone=z)
    for n, r, z in [
        (1, "WEST", "Pacific Standard Time"),
        (2, "WEST", "GMTMINUS0800PACIFICTIME"),
        (3, "EAST", "W. Europe Standard Time"),
        (4, None, "Asia/Tokyo"),
        (5, "EAST", "nowhere"),
    ]
}


def task(
    store: str, task_id: str = "1", status: TaskStatus = TaskStatus.NOT_STARTED, **kw: object
) -> StoreTask:
    return StoreTask(task_list="TL-7", task=task_id, store=store, status=status, **kw)  # type: ignore[arg-type]


store_tasks = st.builds(
    task,
    store=st.sampled_from([*STORES, "0099"]),  # 0099: not (or no longer) a store in Commerce
    task_id=st.sampled_from(["1", "2", "3"]),
    status=st.sampled_from(list(TaskStatus)),
    due_date=st.none() | st.dates(min_value=date(2030, 3, 7), max_value=date(2030, 3, 12)),
    modified_at=st.none() | st.datetimes(timezones=st.just(UTC)),
)
facts = st.dictionaries(
    st.sampled_from([f"TL-7/{t}@{s}" for t in "123" for s in STORES]),
    st.builds(MirrorFacts, mirrored=st.booleans(), problem=st.none() | st.just("blocked")),
)


PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(st.lists(store_tasks, max_size=40), facts, st.sampled_from([None, "WEST", "EAST", NO_REGION]))
def test_counts_add_up_and_each_store_task_counts_once(
    rows: list[StoreTask], mirror: dict[str, MirrorFacts], region: str | None
) -> None:
    report = completion_report("TL-7", rows, STORES, mirror, now=NOW, region=region)
    lines = [s for r in report.regions for s in r.stores]
    assert len({s.store for s in lines}) == len(lines)  # a store is listed once
    for s in lines:
        c = s.counts
        assert c.done + c.open + c.canceled == c.tasks
        assert 0 <= c.overdue <= c.open and c.not_mirrored <= c.tasks and c.problems <= c.tasks
        assert len(s.overdue_tasks) == c.overdue
    for r in report.regions:
        assert r.counts == sum((s.counts for s in r.stores), Counts())
        assert {s.region for s in r.stores} == {r.region}
    assert report.totals == sum((r.counts for r in report.regions), Counts())
    wanted = {
        t.key
        for t in rows
        if region is None
        or ((STORES.get(t.store) or StorePlace(number=t.store)).region or NO_REGION) == region
    }
    assert report.totals.tasks == len(wanted)  # every store task of the list once, none twice


@PROPS
@given(st.lists(store_tasks, max_size=20))
def test_a_repeated_row_changes_nothing(rows: list[StoreTask]) -> None:
    once = completion_report("TL-7", rows, STORES, {}, now=NOW)
    twice = completion_report("TL-7", [*rows, *rows], STORES, {}, now=NOW)
    assert twice == once


def test_rows_of_another_list_are_not_counted() -> None:
    other = StoreTask(task_list="TL-8", task="1", store="0001")
    report = completion_report("TL-7", [task("0001"), other], STORES, {}, now=NOW)
    assert report.totals.tasks == 1


def test_overdue_is_judged_by_the_date_in_the_store_zone() -> None:
    # At NOW it is still 9 March in Seattle and already 10 March in Berlin and Tokyo.
    rows = [task(s, due_date=date(2030, 3, 9)) for s in ("0001", "0002", "0003", "0004")]
    report = completion_report("TL-7", rows, STORES, {}, now=NOW)
    by_store = {s.store: s for r in report.regions for s in r.stores}
    assert {k: v.counts.overdue for k, v in by_store.items()} == {"0001": 0, "0002": 0, "0003": 1, "0004": 1}
    assert by_store["0001"].today == date(2030, 3, 9) and by_store["0003"].today == date(2030, 3, 10)
    assert by_store["0002"].time_zone == "America/Los_Angeles"  # the F&O enum symbol is understood


def test_done_canceled_and_undated_tasks_are_never_overdue() -> None:
    old = date(2020, 1, 1)
    rows = [
        task("0003", "1", TaskStatus.COMPLETED, due_date=old),
        task("0003", "2", TaskStatus.CANCELED, due_date=old),
        task("0003", "3", TaskStatus.IN_PROGRESS),
    ]
    report = completion_report("TL-7", rows, STORES, {}, now=NOW)
    assert report.totals == Counts(tasks=3, done=1, open=1, canceled=1, not_mirrored=2)


def test_an_unknown_zone_falls_back_and_says_so() -> None:
    report = completion_report("TL-7", [task("0005")], STORES, {}, now=NOW, fallback_zone="Europe/Oslo")
    [line] = report.regions[0].stores
    assert line.zone_fallback and line.time_zone == "Europe/Oslo"


def test_regions_are_sorted_and_stores_without_a_region_come_last() -> None:
    rows = [task(s) for s in ("0004", "0003", "0001", "0099")]
    report = completion_report("TL-7", rows, STORES, {}, now=NOW)
    assert [r.region for r in report.regions] == ["EAST", "WEST", NO_REGION]
    assert [s.store for s in report.regions[-1].stores] == ["0004", "0099"]


def test_the_mirror_says_what_is_not_mirrored_yet_and_what_has_a_problem() -> None:
    rows = [task("0001", "1"), task("0001", "2"), task("0001", "3"), task("0001", "4", TaskStatus.CANCELED)]
    mirror = {
        "TL-7/1@0001": MirrorFacts(mirrored=True),
        "TL-7/2@0001": MirrorFacts(mirrored=False, problem="blocked (blocked: mapped team missing)"),
    }
    [line] = completion_report("TL-7", rows, STORES, mirror, now=NOW).regions[0].stores
    assert line.counts.not_mirrored == 2  # 2 (blocked) and 3 (never seen); a canceled task is not wanted
    assert line.problems == ("TL-7/2@0001: blocked (blocked: mapped team missing)",)


def test_mirror_facts_from_the_status_table_and_the_last_pass() -> None:
    planner = PlannerSide.make(
        task_id="t-1", status=TaskStatus.NOT_STARTED, assignee_ids=frozenset(), title="x",
        bucket=None, due=NOW + timedelta(days=1), description_hash=None,
    )  # fmt: skip
    pair = PairStatus(key="TL-7/1@0001", plan_id="p", planner=planner)
    assert mirror_facts(None) is None
    assert mirror_facts(pair, "in_sync") == MirrorFacts(mirrored=True)
    assert mirror_facts(pair, "excluded", ["excluded: opted out"]) == MirrorFacts(
        mirrored=True, problem="excluded (excluded: opted out)"
    )
    assert mirror_facts(None, "blocked") == MirrorFacts(mirrored=False, problem="blocked")

"""Recurring task lists -> one Planner series per store (shared/tasks/recurrence.py): the step a
recurring store task without a Planner task takes, the schedule it starts, and the decisions."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tasks_sim import make_context, make_store_task

from local.graph.recurrence import next_occurrence
from shared.domain.tasks import RecurrencePattern, TaskRecurrence, TaskStatus
from shared.graph.planner import schedule_body
from shared.tasks import (
    CreatePlannerTask,
    DeletePlannerTask,
    Outcome,
    PairStatus,
    PlannerSide,
    ReportKind,
    decide,
    desired_planner_task,
)
from shared.tasks.recurrence import (
    Previous,
    SeriesStep,
    occurrence_date,
    planner_schedule,
    schedule_dates,
    series_step,
)
from shared.tasks.zones import store_zone

ZONES = ["Pacific Standard Time", "W. Europe Standard Time", "Tokyo Standard Time", "UTC"]


def _recurrence(occurrence: int = 1, previous: str | None = None, **changes: object) -> TaskRecurrence:
    values: dict[str, object] = {
        "series": "TL-7", "occurrence": occurrence, "pattern": "weekly", "interval": 1,
        "start": date(2024, 3, 8), "previous_list": previous,
    }  # fmt: skip
    values.update(changes)
    return TaskRecurrence.model_validate(values)


@pytest.mark.parametrize(
    ("recurrence", "previous", "step"),
    [
        (None, None, SeriesStep.PLAIN),
        (_recurrence(1), None, SeriesStep.START),
        (_recurrence(1), Previous(pending=True), SeriesStep.START),  # the first one always starts
        (_recurrence(2, "TL-7"), None, SeriesStep.START),  # nothing to continue (canceled, gone, ...)
        (_recurrence(2, "TL-7"), Previous(pending=True), SeriesStep.WAIT),  # it will start the series
        (_recurrence(2, "TL-7"), Previous(task_id="p1", exists=True, next_in_series="p2"), SeriesStep.ADOPT),
        (_recurrence(2, "TL-7"), Previous(task_id="p1", exists=True), SeriesStep.WAIT),  # open in Teams
        (_recurrence(2, "TL-7"), Previous(task_id="p1", exists=False), SeriesStep.START),  # gone, no next
        (_recurrence(2, None), Previous(task_id="p1", exists=True), SeriesStep.START),  # none named
    ],
)
def test_series_step_table(
    recurrence: TaskRecurrence | None, previous: Previous | None, step: SeriesStep
) -> None:
    assert series_step(recurrence, previous) is step


@given(
    start=st.dates(date(2024, 1, 1), date(2035, 12, 31)),
    pattern=st.sampled_from([RecurrencePattern.DAILY, RecurrencePattern.WEEKLY]),
    interval=st.integers(1, 9),
    offset=st.integers(-5, 5),
    zone=st.sampled_from(ZONES),
    hour=st.integers(0, 23),
)
def test_planner_due_days_fall_on_commerce_due_days_for_daily_and_weekly(
    start: date, pattern: RecurrencePattern, interval: int, offset: int, zone: str, hour: int
) -> None:
    """Occurrence n's due day in Commerce (its target date + the task's offset) is the n-th due day
    of the Planner series the first occurrence starts -- in the store's zone, whatever the hour."""
    from shared.tasks.mapping import due_datetime

    z = store_zone(zone, "UTC")
    rec = TaskRecurrence(series="S", occurrence=1, pattern=pattern, interval=interval, start=start)
    schedule = planner_schedule(rec, due_datetime(start + timedelta(days=offset), z, hour), z)
    commerce = [occurrence_date(start, pattern, interval, n) + timedelta(days=offset) for n in range(1, 9)]
    assert schedule_dates(schedule, z, 8) == commerce


@given(start=st.dates(date(2024, 1, 1), date(2035, 12, 28)).filter(lambda d: d.day <= 28),
       interval=st.integers(1, 12), zone=st.sampled_from(ZONES))  # fmt: skip
def test_monthly_series_follow_commerce_while_the_day_exists_in_every_month(
    start: date, interval: int, zone: str
) -> None:
    from shared.tasks.mapping import due_datetime

    z = store_zone(zone, "UTC")
    rec = TaskRecurrence(series="S", occurrence=1, pattern="monthly", interval=interval, start=start)
    schedule = planner_schedule(rec, due_datetime(start, z, 12), z)
    assert schedule.pattern_type == "absoluteMonthly" and schedule.day_of_month == start.day
    expected = [occurrence_date(start, RecurrencePattern.MONTHLY, interval, n) for n in range(1, 7)]
    assert schedule_dates(schedule, z, 6) == expected


@given(
    start=st.dates(date(2024, 1, 1), date(2035, 12, 31)),
    pattern=st.sampled_from(list(RecurrencePattern)),
    interval=st.integers(1, 9),
    zone=st.sampled_from(ZONES),
)
def test_the_graph_sandbox_continues_a_series_on_the_dates_the_rule_expects(
    start: date, pattern: RecurrencePattern, interval: int, zone: str
) -> None:
    """The sandbox's own reading of the schedule we send (its `nextOccurrenceDateTime` chain)
    agrees with `schedule_dates`: what the mirror writes is what Planner continues with."""
    from shared.tasks.mapping import due_datetime

    z = store_zone(zone, "UTC")
    rec = TaskRecurrence(series="S", occurrence=1, pattern=pattern, interval=interval, start=start)
    first = due_datetime(start, z, 12)
    schedule = planner_schedule(rec, first, z)
    sent = schedule_body(schedule)["recurrence"]["schedule"]
    due, days = first.strftime("%Y-%m-%dT%H:%M:%SZ"), []
    from datetime import datetime

    for _ in range(5):
        days.append(datetime.fromisoformat(due.replace("Z", "+00:00")).astimezone(z.zone).date())
        due = next_occurrence(sent, datetime.fromisoformat(due.replace("Z", "+00:00")))
    assert days == schedule_dates(schedule, z, 5)


def test_the_first_occurrence_starts_the_series_with_commerces_pattern() -> None:
    task = make_store_task(recurrence=_recurrence(1))
    decision = decide(task, None, None, make_context(series=SeriesStep.START))
    create = decision.actions[0]
    assert isinstance(create, CreatePlannerTask) and create.task.schedule is not None
    assert create.task.schedule.pattern_type == "weekly"
    assert create.task.due is not None
    assert create.task.schedule.days_of_week == (create.task.due.strftime("%A").lower(),)
    assert create.task.schedule.pattern_start == create.task.due


def test_a_task_that_is_not_recurring_or_does_not_start_a_series_gets_no_schedule() -> None:
    assert desired_planner_task(make_store_task(), make_context(series=SeriesStep.START)).schedule is None
    recurring = make_store_task(recurrence=_recurrence(1))
    assert desired_planner_task(recurring, make_context()).schedule is None


def test_an_occurrence_whose_previous_one_is_open_in_teams_waits_and_writes_nothing() -> None:
    task = make_store_task(task_list="TL-7-2", recurrence=_recurrence(2, "TL-7"))
    decision = decide(task, None, None, make_context(series=SeriesStep.WAIT))
    assert decision.outcome is Outcome.HELD and not decision.writes
    assert [r.kind for r in decision.reports] == [ReportKind.SERIES_WAITING]
    assert decision.status is not None and decision.status.planner is None


def test_canceling_an_occurrence_in_a_series_stops_the_series_before_deleting() -> None:
    """Else Planner would continue the series with a task no occurrence owns."""
    from datetime import UTC, datetime

    from shared.domain.task_mirror import PlannerTaskView

    task = make_store_task(recurrence=_recurrence(1), status=TaskStatus.CANCELED)
    view = PlannerTaskView(task_id="p1", plan_id="plan-42", etag='W/"p"', observed_at=datetime.now(UTC))
    side = PlannerSide.make(task_id="p1", status=TaskStatus.NOT_STARTED, assignee_ids=frozenset(), title="t",
                            bucket=None, due=None, description_hash=None, series_id="s-1")  # fmt: skip
    status = PairStatus(key=task.key, plan_id="plan-42", planner=side)
    (delete, *_) = decide(task, view, status, make_context()).actions
    assert isinstance(delete, DeletePlannerTask) and delete.stop_recurrence
    plain = status.model_copy(update={"planner": side.model_copy(update={"series_id": None})})
    (delete, *_) = decide(task, view, plain, make_context()).actions
    assert isinstance(delete, DeletePlannerTask) and not delete.stop_recurrence


def test_every_occurrence_of_a_series_names_its_steps_alike() -> None:
    """Planner copies the checklist into the series' next task: the next occurrence must see those
    items as its own, not add its steps a second time."""
    notes = "- [ ] Count the coins\n- [ ] Sign the sheet"
    first = make_store_task(notes=notes, recurrence=_recurrence(1))
    second = make_store_task(task_list="TL-7-2", notes=notes, recurrence=_recurrence(2, "TL-7"))
    plain = make_store_task(task_list="TL-7-2", notes=notes)
    ctx = make_context()
    ids = desired_planner_task(first, ctx).checklist.ids
    assert desired_planner_task(second, ctx).checklist.ids == ids
    assert desired_planner_task(plain, ctx).checklist.ids.isdisjoint(ids)


def test_an_occurrence_already_completed_when_first_mirrored_starts_no_series() -> None:
    """Planner continues a series on a completion it sees; this one it would never see."""
    done = make_store_task(recurrence=_recurrence(1), status=TaskStatus.COMPLETED)
    assert desired_planner_task(done, make_context(series=SeriesStep.START)).schedule is None


@pytest.mark.parametrize("previous", [None, Previous(pending=True), Previous(task_id="p1", exists=True)])
def test_an_occurrence_completed_before_it_reached_teams_is_not_added_to_the_series(
    previous: Previous | None,
) -> None:
    """Taking a task would make Planner continue the series for it too (a period too many)."""
    assert series_step(_recurrence(2, "TL-7"), previous, completed=True) is SeriesStep.SKIP
    task = make_store_task(task_list="TL-7-2", recurrence=_recurrence(2, "TL-7"), status=TaskStatus.COMPLETED)
    decision = decide(task, None, None, make_context(series=SeriesStep.SKIP))
    assert not decision.writes and decision.status is not None and decision.status.planner is None

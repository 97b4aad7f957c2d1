"""Recurring task lists -> one Planner recurrence series per store (pure).

Commerce: a recurring assignment ("Start process" with Recurrence) makes a new task list instance
per period, at every store, on HQ's schedule -- each occurrence is its own store task and pair.
Planner (beta `plannerTask.recurrence`,
https://learn.microsoft.com/graph/api/resources/plannertaskrecurrence?view=graph-rest-beta): a
task with a `schedule` continues its series itself -- when it is completed (or deleted while the
schedule is set) Planner creates the next task (`occurrenceId` + 1, same `seriesId`, due =
`schedule.nextOccurrenceDateTime`) and links the two (`nextInSeriesTaskId` /
`previousInSeriesTaskId`); to end a series the schedule is set to null first.

The rule (docs/tasks.md, "Recurrence"): the first occurrence at a store starts a Planner series
(its task gets Commerce's pattern as `schedule`); occurrence n adopts the task Planner made to
continue occurrence n-1 (`nextInSeriesTaskId`), it does not create one. While occurrence n-1 is
still open in Planner there is no such task yet: occurrence n waits (reported) and is mirrored
when n-1 is completed or canceled. A canceled occurrence stops its Planner series (schedule null,
then delete), so the next occurrence starts a new one -- never two series per store.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.planner import PlannerSchedule
from shared.domain.tasks import RecurrencePattern, TaskRecurrence
from shared.tasks.zones import StoreZone


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def add_months(day: date, months: int) -> date:
    """`day` `months` later; a day past the month's end is that month's last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def occurrence_date(start: date, pattern: RecurrencePattern, interval: int, n: int) -> date:
    """Target date of occurrence `n` (1-based) of a recurring assignment starting on `start`."""
    steps = (n - 1) * interval
    if pattern is RecurrencePattern.DAILY:
        return start + timedelta(days=steps)
    if pattern is RecurrencePattern.WEEKLY:
        return start + timedelta(weeks=steps)
    return add_months(start, steps)


def planner_schedule(recurrence: TaskRecurrence, first_due: datetime, zone: StoreZone) -> PlannerSchedule:
    """Commerce's pattern as Planner's `schedule` (a Graph `recurrencePattern`,
    https://learn.microsoft.com/graph/api/resources/recurrencepattern): daily -> `daily`; weekly ->
    `weekly` on the first due day's weekday; monthly -> `absoluteMonthly` on its day of the month.
    `patternStartDateTime` = the first occurrence's due instant, so Planner's next due dates fall
    on Commerce's (daily and weekly always; monthly while the day exists in every month)."""
    day = first_due.astimezone(zone.zone).date()
    if recurrence.pattern is RecurrencePattern.DAILY:
        return PlannerSchedule(pattern_type="daily", interval=recurrence.interval, pattern_start=first_due)
    if recurrence.pattern is RecurrencePattern.WEEKLY:
        return PlannerSchedule(
            pattern_type="weekly",
            interval=recurrence.interval,
            days_of_week=(_WEEKDAYS[day.weekday()],),
            pattern_start=first_due,
        )
    return PlannerSchedule(
        pattern_type="absoluteMonthly",
        interval=recurrence.interval,
        day_of_month=day.day,
        pattern_start=first_due,
    )


def schedule_dates(schedule: PlannerSchedule, zone: StoreZone, count: int) -> list[date]:
    """The first `count` due days (store zone) of Planner's series from the pattern. A monthly day
    past a month's end is taken as its last day [inference: not stated on the Graph pages]."""
    start = schedule.pattern_start.astimezone(zone.zone).date()
    if schedule.pattern_type == "daily":
        return [start + timedelta(days=n * schedule.interval) for n in range(count)]
    if schedule.pattern_type == "weekly":
        return [start + timedelta(weeks=n * schedule.interval) for n in range(count)]
    return [add_months(start, n * schedule.interval) for n in range(count)]


class SeriesStep(StrEnum):
    PLAIN = "plain"  # not recurring: a task of its own, as before
    START = "start"  # create the task and give it the schedule: a new series at this store
    ADOPT = "adopt"  # Planner already made this occurrence's task (previous one's nextInSeriesTaskId)
    WAIT = "wait"  # the previous occurrence is still open in Planner: no task yet, reported
    SKIP = "skip"  # completed before it reached Planner: not added to the series (nothing to do)


class Previous(_Model):
    """The previous occurrence at this store, as far as a recurring store task needs it."""

    pending: bool = Field(
        default=False,
        description="Its store task is open and not mirrored yet: it will start or continue the series",
    )
    task_id: str | None = Field(default=None, description="Its Planner task, when that is in a series")
    exists: bool = Field(default=False, description="That Planner task still exists (beta read)")
    next_in_series: str | None = Field(default=None, description="Its nextInSeriesTaskId")


def series_step(
    recurrence: TaskRecurrence | None, previous: Previous | None, *, completed: bool = False
) -> SeriesStep:
    """What a store task without a Planner task does. `previous` None: there is no previous
    occurrence to continue (the first one; or it was canceled, completed or gone before it reached
    Planner, or its task is in no series). `completed`: this occurrence is already completed in
    Commerce -- it is not added to the series (Planner's series holds the occurrences worked on in
    Teams; taking a task would make Planner continue the series for it too)."""
    if recurrence is None:
        return SeriesStep.PLAIN
    if completed:
        return SeriesStep.SKIP
    if recurrence.occurrence == 1 or recurrence.previous_list is None or previous is None:
        return SeriesStep.START
    if previous.pending:
        return SeriesStep.WAIT  # else two series would start at this store
    if previous.task_id is None:
        return SeriesStep.START
    if previous.next_in_series:
        return SeriesStep.ADOPT
    return SeriesStep.WAIT if previous.exists else SeriesStep.START

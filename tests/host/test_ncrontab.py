"""NCRONTAB parsing (six fields, ranges, steps, lists, names) and next occurrences."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from local.host.ncrontab import CronSchedule, IntervalSchedule, ScheduleError, parse_schedule

R = range


@pytest.mark.parametrize(
    ("expression", "field", "expected"),
    [
        ("* * * * * *", "seconds", set(R(60))),
        ("0 */5 * * * *", "minutes", set(R(0, 60, 5))),
        ("0 0 9-17 * * *", "hours", set(R(9, 18))),
        ("0 0 8-18/2 * * *", "hours", {8, 10, 12, 14, 16, 18}),
        ("0 0 0 1,15,31 * *", "days", {1, 15, 31}),
        ("5/20 * * * * *", "seconds", {5, 25, 45}),  # a value with a step runs to the maximum
        ("0 0 0 * JAN,jul,Dec *", "months", {1, 7, 12}),
        ("0 0 0 * FEB-APR *", "months", {2, 3, 4}),
        ("0 0 0 * * MON-FRI", "weekdays", {1, 2, 3, 4, 5}),
        ("0 0 0 * * sun,SAT", "weekdays", {0, 6}),
        ("0 0 0 * * 0", "weekdays", {0}),
        ("1,2,10-12,30/15 * * * * *", "seconds", {1, 2, 10, 11, 12, 30, 45}),
        ("*/15 * * * *", "minutes", {0, 15, 30, 45}),  # five fields: no seconds, second 0
        ("*/15 * * * *", "seconds", {0}),
    ],
)
def test_fields_parse_to_the_values_they_name(expression: str, field: str, expected: set[int]) -> None:
    assert set(getattr(CronSchedule.parse(expression), field)) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "has 4 fields"),
        ("* * * * * * *", "has 7 fields"),
        ("60 * * * * *", "second: 60 is outside 0-59"),
        ("0 0 24 * * *", "hour: 24 is outside 0-23"),
        ("0 0 0 0 * *", "day: 0 is outside 1-31"),
        ("0 0 0 * 13 *", "month: 13 is outside 1-12"),
        ("0 0 0 * * 7", "day-of-week: 7 is outside 0-6"),
        ("0 0 0 * FOO *", "month: 'FOO' is not a number or a name"),
        ("*/0 * * * * *", "step '0' must be a positive number"),
        ("0 30-10 * * * *", "runs backwards"),
        ("0 1,,2 * * * *", "empty list item"),
        ("0 0 0 30 FEB *", "never occurs"),
    ],
)
def test_bad_expressions_are_refused_with_the_reason(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message.replace("(", r"\(").replace("*", r"\*")):
        parse_schedule(expression).next_after(datetime(2024, 1, 1))


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 */5 * * * *", datetime(2024, 1, 1, 0, 4, 59), datetime(2024, 1, 1, 0, 5)),
        ("0 */5 * * * *", datetime(2024, 1, 1, 0, 5), datetime(2024, 1, 1, 0, 10)),  # strictly after
        ("*/10 * * * * *", datetime(2024, 1, 1, 0, 0, 1, 500), datetime(2024, 1, 1, 0, 0, 10)),
        ("0 30 9 * * MON-FRI", datetime(2024, 1, 5, 10), datetime(2024, 1, 8, 9, 30)),  # Fri → Mon
        ("0 0 0 1 1 *", datetime(2024, 6, 1), datetime(2025, 1, 1)),
        ("0 59 23 31 12 *", datetime(2024, 12, 31, 23, 59), datetime(2025, 12, 31, 23, 59)),
        ("0 0 0 29 FEB *", datetime(2024, 3, 1), datetime(2028, 2, 29)),
        ("0 0 12 13 * FRI", datetime(2024, 1, 1), datetime(2024, 9, 13, 12)),  # day AND weekday
        ("0 0 * * * *", datetime(2024, 1, 31, 23, 30), datetime(2024, 2, 1, 0, 0)),
        ("0 0 0 31 * *", datetime(2024, 4, 1), datetime(2024, 5, 31)),  # skips 30-day months
    ],
)
def test_next_occurrence(expression: str, after: datetime, expected: datetime) -> None:
    assert parse_schedule(expression).next_after(after) == expected


def test_next_occurrence_keeps_the_time_zone_of_its_input() -> None:
    zone = ZoneInfo("Europe/Paris")
    nxt = parse_schedule("0 0 9 * * *").next_after(datetime(2024, 3, 30, 12, tzinfo=zone))
    assert nxt == datetime(2024, 3, 31, 9, tzinfo=zone)  # wall clock 09:00 across the DST change
    assert nxt.utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize(
    ("expression", "interval"),
    [
        ("00:00:30", timedelta(seconds=30)),
        ("01:00:00", timedelta(hours=1)),
        ("2.03:04:05", timedelta(days=2, hours=3, minutes=4, seconds=5)),
    ],
)
def test_timespan_schedules_are_constant_intervals(expression: str, interval: timedelta) -> None:
    schedule = parse_schedule(expression)
    assert isinstance(schedule, IntervalSchedule)
    assert schedule.next_after(datetime(2024, 1, 1)) == datetime(2024, 1, 1) + interval


@pytest.mark.parametrize("expression", ["00:00:00", "24:00:00", "00:61:00"])
def test_bad_timespans_are_refused(expression: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(expression)

"""Timer schedules as Azure Functions reads them: NCRONTAB expressions and TimeSpan intervals.

NCRONTAB (https://github.com/atifaziz/NCrontab, the library the Functions timer uses) has SIX
fields, ``{second} {minute} {hour} {day} {month} {day-of-week}``; like the Functions runtime we
also accept the classic five (no seconds: second 0). Each field takes ``*``, values, ``a-b``
ranges, ``a,b,c`` lists and ``/step`` (``*/5``, ``10-40/10``, and ``5/15`` = from 5 to the max),
months ``JAN``-``DEC`` and days ``SUN``-``SAT`` (0 = Sunday) by name, case-insensitively.
Unlike Vixie cron, NCrontab requires day-of-month AND day-of-week to match when both are
restricted. A TimeSpan (``hh:mm:ss`` or ``d.hh:mm:ss``) schedules a constant interval instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_MONTHS = {
    n: i
    for i, n in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1
    )
}
_DAYS = {n: i for i, n in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_FIELDS = (  # name, low, high, names
    ("second", 0, 59, None),
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day", 1, 31, None),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 6, _DAYS),
)
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})$")


class ScheduleError(ValueError):
    """An expression that is neither a valid NCRONTAB expression nor a TimeSpan."""


def _value(text: str, field: str, low: int, high: int, names: dict[str, int] | None) -> int:
    upper = text.upper()
    if names and upper in names:
        return names[upper]
    if not text.isdigit():
        raise ScheduleError(f"{field}: {text!r} is not a number" + (" or a name" if names else ""))
    number = int(text)
    if not low <= number <= high:
        raise ScheduleError(f"{field}: {number} is outside {low}-{high}")
    return number


def _parse_field(text: str, field: str, low: int, high: int, names: dict[str, int] | None) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise ScheduleError(f"{field}: empty list item in {text!r}")
        range_text, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"{field}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if range_text == "*":
            first, last = low, high
        elif "-" in range_text:
            a, _, b = range_text.partition("-")
            first, last = _value(a, field, low, high, names), _value(b, field, low, high, names)
            if first > last:
                raise ScheduleError(f"{field}: range {range_text!r} runs backwards")
        else:
            first = _value(range_text, field, low, high, names)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed NCRONTAB expression; `next_after` gives the next occurrence."""

    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        parts = expression.split()
        if len(parts) == 5:
            parts = ["0", *parts]
        if len(parts) != 6:
            raise ScheduleError(
                f"{expression!r} has {len(parts)} fields; NCRONTAB needs six: "
                "{second} {minute} {hour} {day} {month} {day-of-week}"
            )
        sets = [_parse_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True)]
        return cls(expression, *sets)

    def next_after(self, after: datetime) -> datetime:
        """The first occurrence strictly after ``after`` (same tzinfo, naive or aware).

        Aware datetimes are stepped in wall-clock time of their zone (like NCrontab on local
        time); the result keeps the zone.
        """
        t = after.replace(microsecond=0) + timedelta(seconds=1)
        limit = after.year + 30  # a schedule such as Feb 30 never matches
        while t.year <= limit:
            if t.month not in self.months:
                t = _start_of_next_month(t)
                continue
            if t.day not in self.days or _weekday(t) not in self.weekdays:
                t = (t + timedelta(days=1)).replace(hour=0, minute=0, second=0)
                continue
            if t.hour not in self.hours:
                t = (t + timedelta(hours=1)).replace(minute=0, second=0)
                continue
            if t.minute not in self.minutes:
                t = (t + timedelta(minutes=1)).replace(second=0)
                continue
            if t.second not in self.seconds:
                t = t + timedelta(seconds=1)
                continue
            return t
        raise ScheduleError(f"{self.expression!r} never occurs")


@dataclass(frozen=True)
class IntervalSchedule:
    """A TimeSpan schedule: a constant interval from the previous run."""

    expression: str
    interval: timedelta

    def next_after(self, after: datetime) -> datetime:
        return after + self.interval


Schedule = CronSchedule | IntervalSchedule


def parse_schedule(expression: str) -> Schedule:
    """Parse a timer trigger's ``schedule``: NCRONTAB, or TimeSpan ``[d.]hh:mm:ss``."""
    text = expression.strip()
    match = _TIMESPAN.match(text)
    if match:
        days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
        if hours > 23 or minutes > 59 or seconds > 59:
            raise ScheduleError(f"{expression!r}: TimeSpan hours ≤ 23, minutes and seconds ≤ 59")
        interval = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if interval <= timedelta(0):
            raise ScheduleError(f"{expression!r}: the interval must be positive")
        return IntervalSchedule(expression, interval)
    return CronSchedule.parse(text)


def _weekday(t: datetime) -> int:
    return (t.weekday() + 1) % 7  # Python: Monday = 0; NCRONTAB: Sunday = 0


def _start_of_next_month(t: datetime) -> datetime:
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return t.replace(year=year, month=month, day=1, hour=0, minute=0, second=0)

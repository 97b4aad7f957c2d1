"""Planner task recurrence (beta only): `plannerTask.recurrence`, a series that continues itself.

https://learn.microsoft.com/graph/api/resources/plannertaskrecurrence?view=graph-rest-beta :
- a client makes a task recurring by PATCHing `recurrence.schedule` (pattern + patternStartDateTime);
  Planner then fills `seriesId` (new), `occurrenceId` 1, `recurrenceStartDateTime` (from
  patternStartDateTime); `recurrence` itself can never be set back to null;
- "To cancel recurrence, clients set the same schedule to null";
- when a task with an active schedule is completed (percentComplete 100), or deleted without
  cancelling the recurrence, a new task continues the series: same `seriesId`, `occurrenceId` + 1,
  `previousInSeriesTaskId` = the old task, whose `nextInSeriesTaskId` becomes the new one.
https://learn.microsoft.com/graph/api/resources/plannerrecurrenceschedule?view=graph-rest-beta :
`nextOccurrenceDateTime` is computed by the service and is the new task's `dueDateTime`.
The property is absent from v1.0 `plannerTask` (a v1.0 request naming it is refused, as OData
refuses any unknown property).
What the continuing task copies from the old one is not listed on those pages [inference: title,
bucket, priority, assignments, description, checklist (unchecked) and references, as the Planner
app shows]. Only the pattern types the app writes are computed: daily, weekly, absoluteMonthly
(a day past a month's end -> the month's last day [inference]).
"""

from __future__ import annotations

import calendar
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import GraphError

_TYPES = ("daily", "weekly", "absoluteMonthly")


def _dt(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _add_months(day: datetime, months: int) -> datetime:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def _nth(schedule: dict[str, Any], n: int) -> datetime:
    pattern = schedule["pattern"]
    start = _dt(schedule["patternStartDateTime"])
    assert start is not None
    step = n * int(pattern.get("interval") or 1)
    if pattern["type"] == "daily":
        return start + timedelta(days=step)
    if pattern["type"] == "weekly":
        return start + timedelta(weeks=step)
    return _add_months(start, step)


def next_occurrence(schedule: dict[str, Any], after: datetime | None) -> str:
    """The first date of the pattern strictly after `after` (the pattern's start when None)."""
    n = 0
    while after is not None and _nth(schedule, n) <= after and n < 10_000:
        n += 1
    return _iso(_nth(schedule, n if after is not None else 1))


def validate_schedule(schedule: Any) -> dict[str, Any] | None:
    if schedule is None:
        return None
    if not isinstance(schedule, dict):
        raise GraphError(400, "", "The schedule is invalid.")
    pattern = schedule.get("pattern")
    start = _dt(schedule.get("patternStartDateTime"))
    if not isinstance(pattern, dict) or start is None:
        raise GraphError(400, "", "The schedule must specify pattern and patternStartDateTime.")
    if pattern.get("type") not in _TYPES:
        raise GraphError(400, "", f"The recurrence pattern type {pattern.get('type')!r} is not supported.")
    interval = pattern.get("interval", 1)
    if not isinstance(interval, int) or interval < 1:
        raise GraphError(400, "", "The recurrence pattern interval must be a positive integer.")
    return {
        "@odata.type": "#microsoft.graph.plannerRecurrenceSchedule",
        "pattern": {k: v for k, v in pattern.items()},
        "patternStartDateTime": _iso(start),
    }


def apply_recurrence(task: dict[str, Any], value: Any) -> None:
    """A client's `recurrence` in a beta PATCH: only `schedule` is writable."""
    if not isinstance(value, dict):
        raise GraphError(400, "", "Recurrence cannot be set to null once defined; set its schedule to null.")
    if "schedule" not in value:
        return
    schedule = validate_schedule(value["schedule"])
    current = task.get("_recurrence")
    if current is None:
        if schedule is None:
            return  # never recurring: nothing to cancel
        start = schedule["patternStartDateTime"]
        current = {"seriesId": secrets.token_hex(16), "occurrenceId": 1, "previousInSeriesTaskId": None,
                   "nextInSeriesTaskId": None, "recurrenceStartDateTime": start}  # fmt: skip
    elif current.get("nextInSeriesTaskId") and schedule is not None:
        # The schedule belongs to the series' latest task [inference from the schedule's description].
        raise GraphError(400, "", "The schedule can only be changed on the latest task of the series.")
    if schedule is not None:
        schedule["nextOccurrenceDateTime"] = next_occurrence(schedule, _dt(task.get("dueDateTime")))
    task["_recurrence"] = {**current, "schedule": schedule}


def continues(task: dict[str, Any]) -> bool:
    """Whether completing or deleting `task` makes Planner create the series' next task."""
    rec = task.get("_recurrence")
    return bool(rec and rec.get("schedule") and not rec.get("nextInSeriesTaskId"))


def next_task(
    task: dict[str, Any], details: dict[str, Any] | None, new_id: str, now: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The task (and details) that continues `task`'s series."""
    rec = task["_recurrence"]
    schedule = dict(rec["schedule"])
    due = schedule["nextOccurrenceDateTime"]
    schedule["nextOccurrenceDateTime"] = next_occurrence(schedule, _dt(due))
    fresh = {
        **{k: v for k, v in task.items() if not k.startswith("_") and k != "@odata.etag"},
        "id": new_id, "createdDateTime": now, "dueDateTime": due, "percentComplete": 0,
        "completedDateTime": None, "completedBy": None,
        "_recurrence": {**rec, "occurrenceId": int(rec["occurrenceId"]) + 1, "schedule": schedule,
                        "previousInSeriesTaskId": task["id"], "nextInSeriesTaskId": None},
    }  # fmt: skip
    old = details or {"checklist": {}, "references": {}, "description": None, "previewType": "automatic"}
    checklist = {k: {**v, "isChecked": False} for k, v in (old.get("checklist") or {}).items()}
    copied = {k: v for k, v in old.items() if not k.startswith("_") and k != "@odata.etag"}
    fresh_details = {**copied, "id": new_id, "checklist": checklist}
    fresh["activeChecklistItemCount"] = len(checklist)
    return fresh, fresh_details


def view(task: dict[str, Any]) -> dict[str, Any] | None:
    """`recurrence` as beta shows it (null for a task never made recurring)."""
    rec = task.get("_recurrence")
    return None if rec is None else {"@odata.type": "#microsoft.graph.plannerTaskRecurrence", **rec}

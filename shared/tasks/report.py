"""The cross-store completion report of one task list (pure): per region and store, how many of
its published store tasks are done, open and overdue (docs/tasks.md "Completion report").

Commerce is the source of truth: every store task of the list counts once (by its key, whatever
a paged read repeated), by its Commerce status -- `completed` is done, `not_started` and
`in_progress` are open, `canceled` is counted apart (neither done nor open). A task is overdue when
it is open and its due date is before *today in the store's time zone* (the zone rule of task
mirroring, `shared.tasks.zones.store_zone`, with `tasks.default_time_zone` as its fallback; a store
whose zone fell back is marked). The pair status table adds what the mirror knows: a task not yet
mirrored into Planner, and a task whose last mirror pass has a problem (blocked, held, excluded,
suspended, or a reported problem).

`done + open + canceled = tasks` for every store, region and the whole list; a region's counts
are the sums of its stores'; overdue <= open; `not_mirrored <= tasks`. No I/O here: the read side
is `shared.mirror.report`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.tasks import StoreTask, TaskStatus
from shared.tasks.state import PairStatus
from shared.tasks.zones import ZoneSource, store_zone

NO_REGION = "(no region)"
"""Where a store without a region in the retail hierarchy (or unknown to Commerce) is listed."""

_OPEN = frozenset({TaskStatus.NOT_STARTED, TaskStatus.IN_PROGRESS})


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StorePlace(_Model):
    """What the report needs of a store: where it sits and its time zone (`Store.time_zone`)."""

    number: str
    name: str = ""
    region: str | None = None
    time_zone: str | None = None


class MirrorFacts(_Model):
    """What the pair status table says of one store task (absent = never mirrored)."""

    mirrored: bool = Field(description="A Planner task is recorded for the pair")
    problem: str | None = Field(default=None, description="The last pass's outcome or problem, if any")


class Counts(_Model):
    tasks: int = 0
    done: int = 0
    open: int = 0
    overdue: int = 0
    canceled: int = 0
    not_mirrored: int = 0
    problems: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(**{k: getattr(self, k) + getattr(other, k) for k in Counts.model_fields})


class StoreLine(_Model):
    store: str
    name: str = ""
    region: str
    time_zone: str = Field(description="The IANA zone 'today' and 'overdue' were judged in")
    zone_fallback: bool = Field(default=False, description="Commerce's zone was not understood")
    today: date
    counts: Counts
    overdue_tasks: tuple[str, ...] = Field(default=(), description="Keys of the overdue store tasks")
    problems: tuple[str, ...] = Field(default=(), description="'<key>: <problem>' per task with one")


class RegionLine(_Model):
    region: str
    counts: Counts
    stores: tuple[StoreLine, ...]


class CompletionReport(_Model):
    task_list: str
    list_name: str | None = None
    generated: datetime
    region: str | None = Field(default=None, description="The region filter, None = every region")
    totals: Counts
    regions: tuple[RegionLine, ...]


# Outcomes of a mirror pass that mean the pair is not mirrored as it should be (shared/mirror).
PROBLEM_OUTCOMES = frozenset({"blocked", "held", "excluded", "suspended", "failed"})


def mirror_facts(
    pair: PairStatus | None, outcome: str | None = None, problems: Iterable[str] = ()
) -> MirrorFacts | None:
    """The mirror's facts of one pair from its status-table row and its last pass (outcome and
    problem kinds); None when the pair was never seen."""
    if pair is None and outcome is None:
        return None
    mirrored = pair is not None and pair.planner is not None and pair.planner.task_id is not None
    kinds = [p for p in problems if p]
    problem = None
    if outcome in PROBLEM_OUTCOMES:
        problem = outcome + (f" ({kinds[0]})" if kinds else "")
    elif kinds:
        problem = kinds[0]
    return MirrorFacts(mirrored=mirrored, problem=problem)


def _open(status: TaskStatus) -> bool:
    return status in _OPEN


def _latest(tasks: Iterable[StoreTask], task_list: str) -> dict[str, StoreTask]:
    """One row per store task key of `task_list`: a repeated row (a page read twice, the same
    store number in two legal entities) counts once, the most recently modified wins."""
    floor = datetime.min.replace(tzinfo=UTC)
    rows: dict[str, StoreTask] = {}
    for t in tasks:
        if t.task_list != task_list:
            continue
        seen = rows.get(t.key)
        if seen is None or (t.modified_at or floor) >= (seen.modified_at or floor):
            rows[t.key] = t
    return rows


def is_overdue(task: StoreTask, today: date) -> bool:
    """Open and due before `today` (the store's local date)."""
    return _open(task.status) and task.due_date is not None and task.due_date < today


def completion_report(
    task_list: str,
    tasks: Iterable[StoreTask],
    stores: Mapping[str, StorePlace],
    mirror: Mapping[str, MirrorFacts],
    *,
    now: datetime,
    fallback_zone: str = "UTC",
    region: str | None = None,
    list_name: str | None = None,
) -> CompletionReport:
    """The report of `task_list` from its store tasks (Commerce), the stores' places and zones,
    and the mirror's facts per task key. `region` keeps only the stores of that region."""
    by_store: dict[str, list[StoreTask]] = {}
    for t in _latest(tasks, task_list).values():
        by_store.setdefault(t.store, []).append(t)
    lines: dict[str, list[StoreLine]] = {}
    for number, rows in by_store.items():
        place = stores.get(number) or StorePlace(number=number)
        where = place.region or NO_REGION
        if region is not None and where != region:
            continue
        zone = store_zone(place.time_zone, fallback_zone)
        today = now.astimezone(zone.zone).date()
        overdue = sorted(t.key for t in rows if is_overdue(t, today))
        problems: list[str] = []
        not_mirrored = 0
        for t in sorted(rows, key=lambda r: r.key):
            facts = mirror.get(t.key)
            if t.status is not TaskStatus.CANCELED and (facts is None or not facts.mirrored):
                not_mirrored += 1
            if facts is not None and facts.problem:
                problems.append(f"{t.key}: {facts.problem}")
        counts = Counts(
            tasks=len(rows),
            done=sum(1 for t in rows if t.status is TaskStatus.COMPLETED),
            open=sum(1 for t in rows if _open(t.status)),
            overdue=len(overdue),
            canceled=sum(1 for t in rows if t.status is TaskStatus.CANCELED),
            not_mirrored=not_mirrored,
            problems=len(problems),
        )
        lines.setdefault(where, []).append(
            StoreLine(
                store=number,
                name=place.name,
                region=where,
                time_zone=str(zone.zone.key),
                zone_fallback=zone.source is ZoneSource.FALLBACK,
                today=today,
                counts=counts,
                overdue_tasks=tuple(overdue),
                problems=tuple(problems),
            )
        )
    regions = tuple(
        RegionLine(
            region=name,
            counts=sum((s.counts for s in found), Counts()),
            stores=tuple(sorted(found, key=lambda s: s.store)),
        )
        for name, found in sorted(lines.items(), key=lambda kv: (kv[0] == NO_REGION, kv[0]))
    )
    return CompletionReport(
        task_list=task_list,
        list_name=list_name,
        generated=now,
        region=region,
        totals=sum((r.counts for r in regions), Counts()),
        regions=regions,
    )


__all__ = [
    "NO_REGION",
    "CompletionReport",
    "Counts",
    "MirrorFacts",
    "RegionLine",
    "StoreLine",
    "StorePlace",
    "completion_report",
    "is_overdue",
    "mirror_facts",
]

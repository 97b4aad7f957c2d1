"""Picking up Teams-side changes without change notifications (pure planning of the reads).

Graph has no change notifications for Planner (v1.0 or beta), so a timer lists the tasks of every
plan that has open mirrored tasks (and, with `tasks.from_teams` on, every store plan: see
shared/tasks/origin.py) -- one listing per plan, 20 to a `$batch` (Graph's $batch limit) -- and
compares each task's @odata.etag with the status table. Only tasks whose ETag moved, and mirrored
tasks missing from the listing, are processed further. When nothing changed, a poll costs
ceil(plans listed / 20) requests. This module plans with plan ids only; the Graph layer
(shared/graph/planner.py `plan_tasks_path`, `plan_tasks_delta_path`) makes the requests.

The beta delta query (`use_beta_delta`) replaces the listing with one delta round per plan (the
same number of `$batch` requests, but only changed tasks in the answers); `delta_changes` reads a
round, `DeltaLinks` keeps the links.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.planner import PlannerTask
from shared.domain.tasks import TaskStatus
from shared.settings import TaskSettings
from shared.tasks.state import PairStatus

BATCH_LIMIT = 20  # requests per Graph $batch (https://learn.microsoft.com/graph/json-batching)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _mirrored(status: PairStatus) -> bool:
    return not status.tombstone and status.planner is not None and status.planner.task_id is not None


def _open(status: PairStatus) -> bool:
    done = TaskStatus.COMPLETED
    return _mirrored(status) and not (
        status.planner is not None
        and status.planner.status is done
        and (status.commerce is None or status.commerce.status is done)
    )


def plans_to_poll(statuses: Iterable[PairStatus], store_plans: Iterable[str] = ()) -> tuple[str, ...]:
    """Plans with at least one open mirrored task (completed on both sides, tombstoned and
    never-created pairs do not count; the nightly reconciliation covers them), plus `store_plans`
    (every store plan the app knows, when tasks made in Teams become Commerce tasks:
    `origin.plans_for_teams_tasks`), sorted."""
    return tuple(sorted({s.plan_id for s in statuses if _open(s)} | set(store_plans)))


class PollRequest(_Model):
    """One plan's listing in a batch: the batch-local request id and the plan (the Graph layer
    turns it into the request)."""

    id: str
    plan_id: str


class PollBatch(_Model):
    requests: tuple[PollRequest, ...] = Field(max_length=BATCH_LIMIT)


def poll_batches(plan_ids: Iterable[str], size: int = BATCH_LIMIT) -> tuple[PollBatch, ...]:
    """The listing reads, at most `size` (<= 20) per $batch request, ids unique within a batch."""
    if not 1 <= size <= BATCH_LIMIT:
        raise ValueError(f"a Graph $batch holds 1..{BATCH_LIMIT} requests, not {size}")
    ids = list(dict.fromkeys(plan_ids))
    return tuple(
        PollBatch(
            requests=tuple(
                PollRequest(id=str(n), plan_id=pid) for n, pid in enumerate(ids[start : start + size])
            )
        )
        for start in range(0, len(ids), size)
    )


def mass_deletion_held(mirrored: int, missing: int, settings: TaskSettings) -> bool:
    """vdirsyncer's guard: a plan that suddenly lacks most of its mirrored tasks was more likely
    emptied or lost than worked through by hand -- do not cancel those tasks in Commerce."""
    return mirrored >= settings.mass_delete_min_tasks and missing >= settings.mass_delete_ratio * mirrored


class PlanChanges(_Model):
    plan_id: str
    changed: tuple[str, ...] = Field(default=(), description="Pair keys whose Planner ETag moved")
    missing: tuple[str, ...] = Field(default=(), description="Mirrored, but not in the listing")
    unchanged: int = 0
    held: bool = Field(default=False, description="Mass-delete guard: pass deletions_held=True")

    @property
    def to_process(self) -> tuple[str, ...]:
        """Keys to run `decide` for (missing ones too: `decide` holds them when `held`)."""
        return self.changed + self.missing


def plan_changes(
    statuses: Iterable[PairStatus], listed: Mapping[str, Sequence[PlannerTask]], settings: TaskSettings
) -> tuple[PlanChanges, ...]:
    """Compare each listed plan's tasks with the status table. Tasks nobody mirrors (made by hand
    in Teams) are not changes of a pair: `origin.teams_candidates` decides which of them become
    new pairs (by `tasks.from_teams`)."""
    by_plan: dict[str, list[PairStatus]] = {}
    for status in statuses:
        if _mirrored(status) and status.plan_id in listed:
            by_plan.setdefault(status.plan_id, []).append(status)
    out = []
    for plan_id in sorted(listed):
        etags = {t.task_id: t.etag for t in listed[plan_id]}
        pairs = sorted(by_plan.get(plan_id, []), key=lambda s: s.key)
        changed, missing = [], []
        for s in pairs:
            assert s.planner is not None
            if s.planner.task_id not in etags:
                missing.append(s.key)
            elif etags[s.planner.task_id] != s.planner.etag:
                changed.append(s.key)
        out.append(
            PlanChanges(
                plan_id=plan_id,
                changed=tuple(changed),
                missing=tuple(missing),
                unchanged=len(pairs) - len(changed) - len(missing),
                held=mass_deletion_held(len(pairs), len(missing), settings),
            )
        )
    return tuple(out)


class DeltaLinks(_Model):
    """Per plan, the @odata.deltaLink to call next (stored as-is: its query encodes the state).
    Beta delta: https://learn.microsoft.com/graph/api/plannertask-delta?view=graph-rest-beta; the
    start URL of a plan without a link is the Graph layer's (`plan_tasks_delta_path`)."""

    links: dict[str, str] = Field(default_factory=dict)

    def request_for(self, plan_id: str) -> str | None:
        """The stored link to call next; None: start a snapshot round."""
        return self.links.get(plan_id)

    def advanced(self, plan_id: str, delta_link: str) -> DeltaLinks:
        """After following nextLinks to the end: keep the final deltaLink."""
        return DeltaLinks(links={**self.links, plan_id: delta_link})

    def expired(self, plan_id: str) -> DeltaLinks:
        """410 Gone / 400 for a link: drop it; the next read is a snapshot round (ETag compare)."""
        return DeltaLinks(links={k: v for k, v in self.links.items() if k != plan_id})


def delta_changes(
    statuses: Iterable[PairStatus],
    plan_id: str,
    tasks: Sequence[PlannerTask],
    removed: Iterable[str],
    settings: TaskSettings,
    *,
    snapshot: bool,
) -> PlanChanges:
    """What one delta round of a plan means for the mirrored pairs. A snapshot round (no link yet,
    or the link expired) lists every task, so it is read exactly like a listing (`plan_changes`).
    An incremental round lists only tasks changed since the last round (as they are now) and the
    ids of deleted ones: a reported task whose ETag differs from the status table is changed, a
    removed mirrored task is missing; pairs not reported are unchanged. Our own writes come back
    too, with the ETag we stored, so they are not changes (echo suppression by ETag)."""
    if snapshot:
        return plan_changes(statuses, {plan_id: tasks}, settings)[0]
    pairs = sorted((s for s in statuses if _mirrored(s) and s.plan_id == plan_id), key=lambda s: s.key)
    etags = {t.task_id: t.etag for t in tasks}
    gone = set(removed)
    changed, missing = [], []
    for s in pairs:
        assert s.planner is not None
        task_id = s.planner.task_id
        if task_id in gone and task_id not in etags:
            missing.append(s.key)
        elif task_id in etags and etags[task_id] != s.planner.etag:
            changed.append(s.key)
    return PlanChanges(
        plan_id=plan_id,
        changed=tuple(changed),
        missing=tuple(missing),
        unchanged=len(pairs) - len(changed) - len(missing),
        held=mass_deletion_held(len(pairs), len(missing), settings),
    )


def unmatched(statuses: Iterable[PairStatus], plan_id: str, tasks: Sequence[PlannerTask]) -> tuple[str, ...]:
    """Ids of listed tasks of a plan that no mirrored pair holds (sorted)."""
    held = {s.planner.task_id for s in statuses if _mirrored(s) and s.plan_id == plan_id and s.planner}
    return tuple(sorted({t.task_id for t in tasks} - held))


def creating_in(statuses: Iterable[PairStatus], plan_id: str) -> bool:
    """A pair of this plan is between "create requested" and "task id recorded". A delta round
    that reported its task meanwhile cannot be attributed to it, so the round's deltaLink must
    not be kept (the next round reads the same changes again, once the id is recorded): else a
    change made in Teams right after the task appeared (completed seconds after creation) would
    be consumed by a round that could not see whose it was, and lost until the nightly run."""
    return any(s.plan_id == plan_id and s.unfinished_create for s in statuses)


# -- adaptive polling: which plans this round lists, within a request budget -------------------
# Graph publishes no Planner limits ("Service limits for Planner are not available",
# https://learn.microsoft.com/graph/throttling-limits#tasks-and-plans-service-limits), only the
# global 130,000 requests per 10 s per app and 429 + Retry-After. So the poll spends what an
# operator grants it (`poll_budget_per_hour`, inner requests of the $batch calls: each counts
# against the limits) where changes are likely: plans that changed in the last hour are listed
# every `poll_interval_seconds`, plans that changed in the last day or have an open task due
# within a day every `poll_warm_interval_seconds`, quiet plans every `poll_quiet_interval_seconds`.
HOT_WINDOW = timedelta(hours=1)  # a plan that changed this recently is hot
WARM_WINDOW = timedelta(hours=24)
DUE_WINDOW = timedelta(hours=24)  # an open task due (or overdue) within this is likely to change


class PlanPoll(_Model):
    """What the poll remembers of one plan."""

    polled_at: datetime | None = None
    changed_at: datetime | None = None


def plans_due_soon(statuses: Iterable[PairStatus], now: datetime) -> frozenset[str]:
    """Plans with an open mirrored task due within a day either side of `now`."""
    return frozenset(
        s.plan_id
        for s in statuses
        if _open(s)
        and s.planner is not None
        and s.planner.due is not None
        and abs(s.planner.due - now) <= DUE_WINDOW
    )


def poll_interval(poll: PlanPoll | None, due_soon: bool, now: datetime, settings: TaskSettings) -> float:
    """Seconds between two listings of a plan, by how likely it is to change."""
    changed = poll.changed_at if poll else None
    if changed is not None and now - changed <= HOT_WINDOW:
        return float(settings.poll_interval_seconds)
    if due_soon or (changed is not None and now - changed <= WARM_WINDOW):
        return float(settings.poll_warm_interval_seconds)
    return float(settings.poll_quiet_interval_seconds)


def allowance(elapsed_seconds: float, settings: TaskSettings) -> int | None:
    """Listings this round may send: the hourly budget's share of the time since the last round
    (at most an hour's worth); None = no budget set."""
    if settings.poll_budget_per_hour <= 0:
        return None
    return max(1, int(settings.poll_budget_per_hour * min(max(elapsed_seconds, 0.0), 3600.0) / 3600))


def choose_plans(
    plan_ids: Iterable[str],
    polls: Mapping[str, PlanPoll],
    due_soon: frozenset[str],
    now: datetime,
    settings: TaskSettings,
    budget: int | None,
) -> tuple[str, ...]:
    """The plans to list now: those whose interval has passed, most overdue first (never
    listed: first of all), at most `budget` of them (the rest wait for the next round)."""
    due: list[tuple[float, str]] = []
    for plan_id in dict.fromkeys(plan_ids):
        poll = polls.get(plan_id)
        if poll is None or poll.polled_at is None:
            due.append((float("inf"), plan_id))
            continue
        interval = poll_interval(poll, plan_id in due_soon, now, settings)
        waited = (now - poll.polled_at).total_seconds()
        if waited >= interval:
            due.append((waited / max(interval, 1.0), plan_id))
    due.sort(key=lambda d: (-d[0], d[1]))
    chosen = [plan_id for _, plan_id in due]
    return tuple(sorted(chosen if budget is None else chosen[:budget]))

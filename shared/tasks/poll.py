"""Picking up Teams-side changes without change notifications (pure planning of the reads).

Graph has no change notifications for Planner (v1.0 or beta), so a timer lists the tasks of every
plan that has open mirrored tasks -- one `GET /planner/plans/{id}/tasks` per plan, 20 to a `$batch`
(Graph's $batch limit) -- and compares each task's @odata.etag with the status table. Only tasks
whose ETag moved, and mirrored tasks missing from the listing, are processed further. When nothing
changed, a poll costs ceil(plans with open mirrored tasks / 20) requests.

The beta delta query (`use_beta_delta`) replaces the listing with one delta round per plan (the
same number of `$batch` requests, but only changed tasks in the answers); `delta_changes` reads a
round, `DeltaLinks` keeps the links.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

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


def plans_to_poll(statuses: Iterable[PairStatus]) -> tuple[str, ...]:
    """Plans with at least one open mirrored task (completed on both sides, tombstoned and
    never-created pairs do not count; the nightly reconciliation covers them), sorted."""
    return tuple(sorted({s.plan_id for s in statuses if _open(s)}))


class PollRequest(_Model):
    id: str
    plan_id: str
    method: str = "GET"
    url: str


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
                PollRequest(id=str(n), plan_id=pid, url=f"/planner/plans/{pid}/tasks")
                for n, pid in enumerate(ids[start : start + size])
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
    in Teams) are ignored."""
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


# Beta delta: https://learn.microsoft.com/graph/api/plannertask-delta?view=graph-rest-beta. The
# documented example's deltaLink is scoped to one plan (planner/plans('{id}')/tasks?…$deltatoken=…);
# the plan-scoped start URL is [unconfirmed] (reference/graph-apis.md, open items).
DELTA_START = "/planner/plans/{plan_id}/tasks/delta"


class DeltaLinks(_Model):
    """Per plan, the @odata.deltaLink to call next (stored as-is: its query encodes the state)."""

    links: dict[str, str] = Field(default_factory=dict)

    def request_for(self, plan_id: str) -> str:
        return self.links.get(plan_id) or DELTA_START.format(plan_id=plan_id)

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

"""Teams -> Commerce: the Planner ETag poll (Graph has no change notifications for Planner).

One `GET /planner/plans/{id}/tasks` per plan with open mirrored tasks (with `tasks.from_teams` on:
per store plan) that is due for a listing
(adaptive: recently changed plans and plans with tasks due soon often, quiet plans rarely, within
`tasks.poll_budget_per_hour`; shared/tasks/poll.py `choose_plans`), 20 per `$batch` call, so a
poll in which nothing changed costs ceil(plans listed / 20) Graph requests (plus nextLink pages of plans
over one page). Only pairs whose ETag moved, and mirrored tasks missing from a listing, get a
mirror pass, which reads them in full. A plan that answers 404 is skipped (its team is gone or
being restored), never read as "every task deleted". With `tasks.from_teams` on, the same listings
also offer the tasks made in Teams that may become new pairs (`teams_candidates`; recorded in
partition "fromteams" before their passes are requested, shared/mirror/from_teams.py): no extra
request, so a quiet poll still costs ceil(plans listed / 20).

With `tasks.use_beta_delta` the listing is replaced by the beta plan-scoped task delta
(https://learn.microsoft.com/graph/api/plannertask-delta?view=graph-rest-beta): one delta round per
plan, 20 per `/beta/$batch`, so the request count is the same, but a round answers only the tasks
changed since the last one (and `@removed` for deleted ones) instead of every task of the plan. The
deltaLinks are kept in the state store (partition "plannerdelta") and saved only by
`commit_delta_links`, after the changes found were turned into mirror requests: a crash in between
re-reads the same changes. An expired link (410 / 400 syncStateNotFound) restarts that plan with a
snapshot round, read like a listing.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared import telemetry
from shared.domain.planner import PlannerTask
from shared.graph.batch import BatchRequest, BatchResponse
from shared.graph.delta import RESYNC_CODES
from shared.graph.paging import items, pages
from shared.graph.planner import plan_tasks_delta_path, plan_tasks_path, task_from
from shared.mirror.from_teams import INTAKE, record_candidate
from shared.mirror.pairs import list_pairs
from shared.settings import Settings
from shared.state import StateStore
from shared.tasks import DeltaLinks, PlanChanges, delta_changes, plan_changes, plans_to_poll, poll_batches
from shared.tasks.origin import plans_for_teams_tasks, teams_candidates, wanted_kinds
from shared.tasks.poll import PlanPoll, allowance, choose_plans, creating_in, plans_due_soon, unmatched

DELTA_PARTITION = "plannerdelta"
PLAN_PARTITION = "pollplan"  # per plan: when it was last listed and last seen changing (PlanPoll)

log = logging.getLogger("cts.tasks.poll")


@dataclass
class PollResult:
    plans: int = 0
    requests: int = 0
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    held_plans: list[str] = field(default_factory=list)
    skipped_plans: list[str] = field(default_factory=list)
    skipped: str = ""
    waiting: int = 0  # plans with open tasks not due for a listing this round (adaptive poll)
    mode: str = "listing"  # or "delta"
    snapshots: list[str] = field(default_factory=list)  # delta: plans read in full this time
    from_teams: list[str] = field(default_factory=list)  # new pairs: tasks made in Teams (origin.py)
    delta_links: dict[str, str] = field(default_factory=dict, repr=False)  # to commit after requests

    @property
    def to_mirror(self) -> list[str]:
        return self.changed + self.missing + self.from_teams

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("delta_links")  # long URLs with tokens: state, not report
        return {**data, "to_mirror": self.to_mirror}


async def _list_plans(
    gateway: Any, plan_ids: tuple[str, ...]
) -> tuple[dict[str, list[PlannerTask]], list[str]]:
    requests = [
        BatchRequest(f"{b}-{r.id}", "GET", plan_tasks_path(r.plan_id))
        for b, batch in enumerate(poll_batches(plan_ids))
        for r in batch.requests
    ]
    plan_of = {
        f"{b}-{r.id}": r.plan_id for b, batch in enumerate(poll_batches(plan_ids)) for r in batch.requests
    }
    responses = await gateway.batch(requests)
    listed: dict[str, list[PlannerTask]] = {}
    skipped: list[str] = []
    for rid, plan_id in plan_of.items():
        response = responses[rid]
        if response.status == 404:
            skipped.append(plan_id)
            continue
        rows = await items(gateway.client(), response.json() or {})
        listed[plan_id] = [task_from(t) for t in rows]
    return listed, skipped


async def poll_plans(
    *, gateway: Any, state: StateStore, settings: Settings, force: bool = False
) -> PollResult:
    """List the plans with open mirrored tasks and return the pairs to mirror. Skipped (no Graph
    request) when the last poll ended less than `tasks.poll_interval_seconds` ago, unless `force`."""
    now = datetime.now(UTC)
    last = await state.get_value("poll", "last")
    if not force and last and last.get("at"):
        age = (now - datetime.fromisoformat(last["at"])).total_seconds()
        if 0 <= age < settings.tasks.poll_interval_seconds:
            return PollResult(skipped=f"last poll {age:.0f} s ago")
    statuses = await list_pairs(state)
    from_teams = settings.tasks.from_teams
    # With tasks made in Teams wanted, every store plan is listed (the app's store -> plan index,
    # one state read; no Graph or Commerce scan), not only those with open mirrored tasks.
    store_plans = await _store_plans(state) if wanted_kinds(from_teams) else {}
    open_plans = plans_to_poll(statuses, plans_for_teams_tasks(store_plans, from_teams))
    polls = {k: PlanPoll.model_validate(v) for k, v in (await state.list_values(PLAN_PARTITION)).items()}
    if force:
        plan_ids = open_plans
    else:  # adaptive: only the plans whose interval passed, within the hourly budget
        elapsed = (
            (now - datetime.fromisoformat(last["at"])).total_seconds() if last and last.get("at") else 3600
        )
        budget = allowance(elapsed, settings.tasks)
        plan_ids = choose_plans(open_plans, polls, plans_due_soon(statuses, now), now, settings.tasks, budget)
    result = PollResult(plans=len(plan_ids), mode="delta" if settings.tasks.use_beta_delta else "listing")
    result.waiting = len(open_plans) - len(plan_ids)
    if plan_ids:
        before = gateway.stats.sent
        listed: dict[str, list[PlannerTask]] = {}
        if settings.tasks.use_beta_delta:
            changes = await _delta_plans(gateway, state, statuses, plan_ids, settings, result, listed)
        else:
            listed, result.skipped_plans = await _list_plans(gateway, plan_ids)
            changes = list(plan_changes(statuses, listed, settings.tasks))
        result.requests = gateway.stats.sent - before
        if wanted_kinds(from_teams):
            result.from_teams = await _teams_candidates(
                state, statuses, listed, store_plans, settings, origin_known=settings.tasks.use_beta_delta
            )
        listed_now = set(plan_ids) - set(result.skipped_plans)
        moved = {c.plan_id for c in changes if c.changed or c.missing}
        moved |= {
            plan
            for store, plan in store_plans.items()
            if any(k.endswith(f"@{store}") for k in result.from_teams)
        }
        for plan_id in sorted(listed_now):
            before_poll = polls.get(plan_id)
            changed_at = now if plan_id in moved else (before_poll.changed_at if before_poll else None)
            await state.put_value(
                PLAN_PARTITION,
                plan_id,
                PlanPoll(polled_at=now, changed_at=changed_at).model_dump(mode="json"),
            )
        for change in changes:
            result.changed += change.changed
            result.missing += change.missing
            if change.missing:
                await state.put_value("held", change.plan_id, {"held": change.held, "at": now.isoformat()})
            if change.held:
                result.held_plans.append(change.plan_id)
    await state.put_value(
        "poll", "last", {"at": datetime.now(UTC).isoformat(), "started": now.isoformat(), **result.to_json()}
    )
    await state.bump("tasks.polls")
    await state.bump("tasks.poll_requests", result.requests)
    if result.held_plans:
        await state.bump("tasks.report.held_mass_delete", len(result.held_plans))
    return result


async def _store_plans(state: StateStore) -> dict[str, str]:
    """Store -> plan id, as `plan_of_store` remembered them (state partition "plan")."""
    return {
        store: str(v["plan_id"]) for store, v in (await state.list_values("plan")).items() if v.get("plan_id")
    }


async def _teams_candidates(
    state: StateStore,
    statuses: list[Any],
    listed: dict[str, list[PlannerTask]],
    store_plans: dict[str, str],
    settings: Settings,
    *,
    origin_known: bool,
) -> list[str]:
    """Tasks made in Teams that may become pairs (`teams_candidates`): each is recorded before its
    pass is requested, so a lost request is found again at the next poll and a repeated one is
    harmless (shared/mirror/from_teams.py)."""
    seen = await state.list_values(INTAKE)
    candidates = teams_candidates(
        listed,
        {plan: store for store, plan in store_plans.items()},
        {s.planner.task_id for s in statuses if s.planner is not None and s.planner.task_id},
        {s.key for s in statuses} | {k for k, v in seen.items() if v.get("state") != "requested"},
        settings.tasks.from_teams,
        origin_known=origin_known,
    )
    for c in candidates:
        if c.key not in seen:
            await record_candidate(state, c.key, c.planner_task_id, c.plan_id, c.store)
    return [c.key for c in candidates]


async def _delta_plans(
    gateway: Any,
    state: StateStore,
    statuses: list[Any],
    plan_ids: tuple[str, ...],
    settings: Settings,
    result: PollResult,
    listed: dict[str, list[PlannerTask]],
) -> list[PlanChanges]:
    """One delta round per plan: stored deltaLinks (or the start URL) in `/beta/$batch` calls; an
    expired link is dropped and the plan read again from the start in a second batch."""
    client = gateway.client()
    stored = await state.list_values(DELTA_PARTITION)
    links = DeltaLinks(links={k: str(v["link"]) for k, v in stored.items() if v.get("link")})
    for plan_id, link in list(links.links.items()):
        if client.relative(link, "beta") is None:  # not under this Graph's /beta root: start over
            links = links.expired(plan_id)
    pending = list(plan_ids)
    changes: list[PlanChanges] = []
    read: dict[str, tuple[list[PlannerTask], list[str], bool]] = {}  # plan -> tasks, removed, snapshot
    for _attempt in range(2):
        if not pending:
            break
        # A kept deltaLink is absolute (made relative to /beta for the batch); the start URL is relative.
        urls = {p: _delta_url(client, links.request_for(p), p) for p in pending}
        ids = {plan_id: f"d{n}" for n, plan_id in enumerate(pending)}
        answers = await gateway.batch(
            [BatchRequest(ids[p], "GET", u) for p, u in urls.items()], version="beta"
        )
        restart: list[str] = []
        for plan_id in pending:
            response = answers[ids[plan_id]]
            snapshot = plan_id not in links.links
            if response.status == 404:
                result.skipped_plans.append(plan_id)
                continue
            if _expired(response) and not snapshot:
                telemetry.log_event(
                    log, "planner delta link expired; reading the plan again", plan_id=plan_id
                )
                links = links.expired(plan_id)
                restart.append(plan_id)
                continue
            rows: list[dict[str, Any]] = []
            delta_link = None
            async for page in pages(client, response.json() or {}):
                rows.extend(page.get("value", []))
                delta_link = page.get("@odata.deltaLink")  # the last page carries it
            removed = [str(r.get("id")) for r in rows if "@removed" in r]
            tasks = [task_from(r) for r in rows if "@removed" not in r]
            listed[plan_id] = tasks  # beta rows: creationSource included
            read[plan_id] = (tasks, removed, snapshot)
            changes.append(
                delta_changes(statuses, plan_id, tasks, removed, settings.tasks, snapshot=snapshot)
            )
            if snapshot:
                result.snapshots.append(plan_id)
            if delta_link:
                result.delta_links[plan_id] = str(delta_link)
        pending = restart
    # A task no pair held when `statuses` was read may be one a pass was creating meanwhile (the
    # pass records its intent before the create request, so it is in a fresh read): decide those
    # plans again on a fresh read, and keep the old deltaLink of a plan still being created into.
    # Costs one more state read only in a round that reported a task nobody mirrors.
    by_plan: dict[str, list[Any]] = {}  # one pass over the pairs, not one per plan
    for status in statuses:
        by_plan.setdefault(status.plan_id, []).append(status)
    again = [p for p, (tasks, _, _) in read.items() if unmatched(by_plan.get(p, []), p, tasks)]
    if again:
        fresh = await list_pairs(state)
        redone = {
            p: delta_changes(fresh, p, read[p][0], read[p][1], settings.tasks, snapshot=read[p][2])
            for p in again
        }
        changes = [redone.get(c.plan_id, c) for c in changes]
        for plan_id in again:
            if creating_in(fresh, plan_id):
                result.delta_links.pop(plan_id, None)
    return sorted(changes, key=lambda c: c.plan_id)


def _delta_url(client: Any, link: str | None, plan_id: str) -> str:
    """A kept deltaLink (absolute) made relative to /beta for the batch, else the start URL."""
    if link is None:
        return plan_tasks_delta_path(plan_id)
    return client.relative(link, "beta") or link


def _expired(response: BatchResponse) -> bool:
    if response.status == 410:
        return True
    body = response.body if isinstance(response.body, dict) else {}
    code = str((body.get("error") or {}).get("code") or "")
    return response.status == 400 and code in RESYNC_CODES


async def commit_delta_links(state: StateStore, result: PollResult) -> int:
    """Save the deltaLinks a delta poll ended with. Call after the changes it found were requested
    (`spine.request_many(TASK_PAIRS, ...)`): until then the old links stay, and a crash re-reads
    the same changes."""
    now = datetime.now(UTC).isoformat()
    for plan_id, link in result.delta_links.items():
        await state.put_value(DELTA_PARTITION, plan_id, {"link": link, "at": now})
    return len(result.delta_links)

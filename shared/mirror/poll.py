"""Teams -> Commerce: the Planner ETag poll (Graph has no change notifications for Planner).

One `GET /planner/plans/{id}/tasks` per plan with open mirrored tasks, 20 per `$batch` call, so a
poll in which nothing changed costs ceil(plans / 20) Graph requests (plus nextLink pages of plans
over one page). Only pairs whose ETag moved, and mirrored tasks missing from a listing, get a
mirror pass, which reads them in full. A plan that answers 404 is skipped (its team is gone or
being restored), never read as "every task deleted".

The beta Planner delta query (`tasks.use_beta_delta`) is not used: the Graph sandbox does not serve
it and its plan-scoped URL is unconfirmed (docs/tasks.md); with the setting on, the poll logs that
and lists tasks as above.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.domain.planner import PlannerTask
from shared.graph.batch import BatchRequest
from shared.graph.planner import task_from
from shared.settings import Settings
from shared.state import StateStore
from shared.tasks import plan_changes, plans_to_poll, poll_batches

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

    @property
    def to_mirror(self) -> list[str]:
        return self.changed + self.missing

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "to_mirror": self.to_mirror}


async def _list_plans(
    gateway: Any, plan_ids: tuple[str, ...]
) -> tuple[dict[str, list[PlannerTask]], list[str]]:
    requests = [
        BatchRequest(f"{b}-{r.id}", r.method, r.url)
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
        page = response.json() or {}
        rows = list(page.get("value", []))
        link = page.get("@odata.nextLink")
        while link:
            more, _ = await gateway.client().call("GET", link)
            rows.extend(more.get("value", []))
            link = more.get("@odata.nextLink")
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
    if settings.tasks.use_beta_delta:
        log.info("tasks.use_beta_delta is set, but the beta Planner delta is not implemented; listing plans")
    statuses = await state.list_pairs()
    plan_ids = plans_to_poll(statuses)
    result = PollResult(plans=len(plan_ids))
    if plan_ids:
        before = gateway.stats.sent
        listed, result.skipped_plans = await _list_plans(gateway, plan_ids)
        result.requests = gateway.stats.sent - before
        for change in plan_changes(statuses, listed, settings.tasks):
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

"""One mirror pass for one pair: read both sides, decide, act, record -- the reconcile contract for
tasks. Level-based and idempotent: a pass reads the *current* store task and Planner task, so
duplicate, late or lost signals are harmless and a pass after a quiet period writes nothing.

412 / 404-on-PATCH -> re-read and decide again (at most `tasks.max_decide_rounds` decisions, then
the pass raises and the orchestration retries it). A Planner limit (403 with a limit code) is not
retried: it is recorded as a problem of the pair (ops/tasks) and counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import Any

from shared import spine, telemetry
from shared.control import write_gate
from shared.domain.plan import Problem, ProblemKind
from shared.domain.tasks import TaskStatus
from shared.domain.teams import TeamKey
from shared.graph.errors import NotFound as GraphNotFound
from shared.graph.errors import PlannerLimitExceeded
from shared.mirror.context import NoPlan, mirror_context, store_context, task_list
from shared.mirror.executor import Buckets, Stale, execute
from shared.mirror.keys import PairKey
from shared.mirror.pairs import delete_pair, get_pair, list_pairs, put_pair
from shared.mirror.reader import read_planner_task, read_store_task
from shared.provisioning.control import closed_for
from shared.settings import Settings
from shared.state import MirrorRecord, StateStore
from shared.tasks import (
    Decision,
    DesiredPlannerTask,
    PairStatus,
    ReportKind,
    decide,
    desired_planner_task,
    find_orphan,
)
from shared.tasks.todo import TodoSeen

log = logging.getLogger("cts.tasks")

_PROBLEM_OF = {
    ReportKind.PLANNER_LIMIT: ProblemKind.PLANNER_LIMIT,
    ReportKind.OWNED_FIELD_OVERWRITTEN: ProblemKind.OWNED_FIELD_OVERWRITTEN,
}


@dataclass(frozen=True, kw_only=True)
class PassResult(spine.PassResult):
    """A mirror pass: `outcome` is the decision's (shared.tasks.Outcome) or blocked / held."""

    writes: int = 0
    rounds: int = 0
    reports: int = 0

    def summary(self) -> dict[str, Any]:
        return {"writes": self.writes, "reports": self.reports}


async def mirror_pass(
    key: str, *, commerce: Any, gateway: Any, state: StateStore, settings: Settings
) -> PassResult:
    """Mirror one pair (`commerce` is the CommerceClient, `gateway` the Graph gateway)."""
    pair = PairKey.parse(key)
    try:
        store = await store_context(
            pair.store, commerce=commerce, state=state, gateway=gateway, settings=settings
        )
    except NoPlan as exc:
        problem = Problem(kind=ProblemKind.BLOCKED_MAPPED_TEAM_MISSING, detail=str(exc), store=pair.store)
        await state.record_mirror(MirrorRecord(key=key, outcome="blocked", problems=[problem]))
        await state.bump("tasks.blocked")
        return PassResult(key=key, outcome="blocked")
    listed = await task_list(pair.task_list, commerce=commerce, settings=settings)
    attempted: PairStatus | None = None
    todo = settings.tasks.todo_mode
    completed_in_todo: str | None = None
    todo_seen: TodoSeen | None = None
    if todo:
        completed_in_todo, todo_seen = await _todo_in(key, state=state, gateway=gateway)
    rounds = settings.tasks.max_decide_rounds
    for round_no in range(1, rounds + 1):
        status = await get_pair(state, key)
        current = status.with_written(attempted) if status is not None else None
        if current is not None and current.unfinished_create:
            current = await _adopt_orphan(current, gateway=gateway, state=state)
        row = await read_store_task(commerce, pair)
        task_id = current.planner.task_id if current and current.planner else None
        view, buckets = None, None
        if task_id:
            view, buckets = await read_planner_task(
                gateway, task_id, store.plan_id, current.planner if current else None
            )
            if view is not None and completed_in_todo and view.percent_complete >= 100:
                # The app set 100 % on the worker's behalf: who completed it is the To Do owner.
                view = view.model_copy(update={"completed_by": view.completed_by or completed_in_todo})
        held = False
        if task_id and view is None:
            held = bool((await state.get_value("held", store.plan_id) or {}).get("held"))
        ctx = mirror_context(store, listed, pair.task, settings, deletions_held=held)
        decision = decide(row, view, current, ctx)
        if decision.writes and (
            closed := closed_for(TeamKey.store(pair.store), (), await write_gate(state, settings))
        ):
            # Kill switch / opt-out (docs/control.md): decided and recorded, nothing written.
            outcome = "suspended" if closed.kind is ProblemKind.SUSPENDED else "excluded"
            await state.record_mirror(
                MirrorRecord(key=key, outcome=outcome, rounds=round_no, problems=[closed])
            )
            await state.bump(f"tasks.{outcome}")
            return PassResult(key=key, outcome=outcome, rounds=round_no)
        try:
            executed = await execute(
                decision,
                commerce_task=row,
                gateway=gateway,
                commerce=commerce,
                buckets=Buckets(gateway, store.plan_id, buckets or None),
                on_created=partial(put_pair, state),
            )
        except Stale as exc:
            telemetry.log_event(
                log, "stale version, deciding again", task_key=key, round=round_no, why=str(exc)
            )
            await state.bump("tasks.stale_rounds")
            attempted = decision.status
            continue
        except PlannerLimitExceeded as exc:
            # Refused before anything was created: drop the create's intent (shared/tasks/orphans.py).
            if status is None:
                await delete_pair(state, key)
            else:
                await put_pair(state, status)
            problem = Problem(
                kind=ProblemKind.PLANNER_LIMIT, detail=f"{exc} (plan {store.plan_id})", store=pair.store
            )
            await state.record_mirror(
                MirrorRecord(key=key, outcome="held", rounds=round_no, problems=[problem], error=str(exc))
            )
            await state.bump("tasks.planner_limit")
            telemetry.log_event(log, "planner limit", level=logging.WARNING, task_key=key, error=str(exc))
            return PassResult(key=key, outcome="held", rounds=round_no)
        if executed.status is None:
            if status is not None:
                await delete_pair(state, key)
        else:
            await put_pair(state, executed.status)
        await _record(state, decision, executed.writes, round_no)
        if todo:
            desired = None
            if row is not None and row.status is not TaskStatus.CANCELED:
                desired = desired_planner_task(row, ctx)
            await _todo_out(
                key, executed.status, desired, todo_seen, gateway=gateway, state=state, settings=settings
            )
        return PassResult(
            key=key,
            outcome=decision.outcome.value,
            writes=executed.writes,
            rounds=round_no,
            reports=len(decision.reports),
        )
    raise RuntimeError(f"{key}: still changing after {rounds} decisions; the pass is retried")


async def _todo_in(key: str, *, state: StateStore, gateway: Any) -> tuple[str | None, TodoSeen | None]:
    """To Do mode, before deciding: a status the worker set in To Do goes to Planner first. A To Do
    failure never fails the pair's pass (Planner and Commerce still mirror); it is counted."""
    from shared.mirror.todo import todo_inbound

    pair = await get_pair(state, key)
    planner_task = pair.planner.task_id if pair is not None and pair.planner is not None else None
    try:
        return await todo_inbound(key, planner_task_id=planner_task, gateway=gateway, state=state)
    except Exception as exc:
        telemetry.log_event(
            log,
            "To Do read failed; the pass goes on without it",
            level=logging.WARNING,
            task_key=key,
            error=str(exc),
        )
        await state.bump("tasks.todo.failed")
        return None, None


async def _todo_out(
    key: str,
    status: PairStatus | None,
    desired: DesiredPlannerTask | None,
    seen: TodoSeen | None,
    *,
    gateway: Any,
    state: StateStore,
    settings: Settings,
) -> None:
    from shared.mirror.todo import todo_outbound

    try:
        await todo_outbound(key, status, desired, seen=seen, gateway=gateway, state=state, settings=settings)
    except Exception as exc:
        telemetry.log_event(
            log,
            "To Do copy not updated; the next pass retries",
            level=logging.WARNING,
            task_key=key,
            error=str(exc),
        )
        await state.bump("tasks.todo.failed")


async def _adopt_orphan(status: PairStatus, *, gateway: Any, state: StateStore) -> PairStatus:
    """A create of this pair was interrupted before its id was recorded: adopt the task it made,
    if there is one (two reads, only on this rare path), so the pass does not create a duplicate."""
    try:
        tasks = await gateway.list_tasks(status.plan_id)
        buckets = {b.bucket_id: b.name for b in await gateway.list_buckets(status.plan_id)}
    except GraphNotFound:
        # The plan is gone (or never was): nothing to adopt there; deciding again handles it.
        telemetry.log_event(log, "interrupted create: its plan is not there", task_key=status.key)
        return status.model_copy(update={"creating_since": None})
    claimed = {
        p.planner.task_id
        for p in await list_pairs(state)
        if p.key != status.key and p.plan_id == status.plan_id and p.planner is not None and p.planner.task_id
    }
    orphan = find_orphan(status, tasks, buckets, claimed)
    if orphan is None:
        telemetry.log_event(log, "interrupted create left no task; creating", task_key=status.key)
        return status
    adopted = status.adopted(orphan.task_id, orphan.etag)
    await put_pair(state, adopted)
    await state.bump("tasks.orphans_adopted")
    telemetry.log_event(
        log,
        "adopted the Planner task of an interrupted create",
        level=logging.WARNING,
        task_key=status.key,
        task_id=orphan.task_id,
        plan_id=status.plan_id,
    )
    return adopted


async def _record(state: StateStore, decision: Decision, writes: int, rounds: int) -> None:
    reports = [{"kind": r.kind.value, "detail": r.detail, "fields": list(r.fields)} for r in decision.reports]
    store = PairKey.parse(decision.key).store
    problems = [
        Problem(kind=_PROBLEM_OF[r.kind], detail=r.detail, store=store)
        for r in decision.reports
        if r.kind in _PROBLEM_OF
    ]
    if not reports and writes == 0:
        # An echo or in-sync pass keeps what the last real change reported (ops can still see it).
        previous = await state.get_mirror(decision.key)
        if previous is not None:
            reports, problems = previous.reports, previous.problems
    for r in decision.reports:
        telemetry.log_event(
            log, "task decision reported", task_key=decision.key, kind=r.kind.value, detail=r.detail
        )
        await state.bump(f"tasks.report.{r.kind.value}")
    await state.bump(f"tasks.{decision.outcome.value}")
    await state.record_mirror(
        MirrorRecord(
            key=decision.key,
            outcome=decision.outcome.value,
            writes=writes,
            rounds=rounds,
            reports=reports,
            problems=problems,
        )
    )

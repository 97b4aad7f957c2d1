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
from shared.domain.planner import PlannerBucket, PlannerTask
from shared.domain.task_mirror import PlannerTaskView
from shared.domain.tasks import StoreTask, TaskStatus
from shared.domain.teams import TeamKey
from shared.graph.errors import NotFound as GraphNotFound
from shared.graph.errors import PlannerLimitExceeded
from shared.mirror.context import NoPlan, WritesClosed, mirror_context, store_context, task_list
from shared.mirror.executor import Buckets, Stale, execute
from shared.mirror.from_teams import published, start_pair
from shared.mirror.keys import PairKey
from shared.mirror.pairs import (
    MirrorRecord,
    delete_pair,
    get_mirror,
    get_pair,
    list_pairs,
    put_pair,
    record_mirror,
)
from shared.mirror.ports import MirrorCommerce, MirrorGateway, PlannerGateway
from shared.mirror.reader import read_planner_task, read_store_task
from shared.provisioning.control import closed_for
from shared.settings import Settings
from shared.spine import RequestQueue
from shared.spine.features import TASK_PAIRS
from shared.state import StateStore
from shared.tasks import (
    Decision,
    DesiredPlannerTask,
    Outcome,
    PairStatus,
    PlannerSide,
    ReportKind,
    decide,
    desired_planner_task,
    find_orphan,
)
from shared.tasks.origin import is_teams_key, keep_published
from shared.tasks.recurrence import Previous, SeriesStep, series_step
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
    key: str, *, commerce: MirrorCommerce, gateway: MirrorGateway, state: StateStore, settings: Settings
) -> PassResult:
    """Mirror one pair (`commerce` is the CommerceClient, `gateway` the Graph gateway: the ports in
    shared/mirror/ports.py)."""
    pair = PairKey.parse(key)
    gate = await write_gate(state, settings)
    try:
        store = await store_context(
            pair.store, commerce=commerce, state=state, gateway=gateway, settings=settings, gate=gate
        )
    except WritesClosed as exc:  # the plan would have to be created: not while closed
        return await _closed(state, key, exc.problem, rounds=0)
    except NoPlan as exc:
        problem = Problem(kind=ProblemKind.BLOCKED_MAPPED_TEAM_MISSING, detail=str(exc), store=pair.store)
        await record_mirror(state, MirrorRecord(key=key, outcome="blocked", problems=[problem]))
        await state.bump("tasks.blocked")
        return PassResult(key=key, outcome="blocked")
    teams = is_teams_key(key)  # made in Teams (shared/mirror/from_teams.py)
    listed = None if teams else await task_list(pair.task_list, commerce=commerce, settings=settings)
    attempted: PairStatus | None = None
    todo = settings.tasks.todo_mode
    completed_in_todo: str | None = None
    todo_seen: TodoSeen | None = None
    # Kill switch / opt-out (docs/control.md): the store's number, region or district.
    closed = closed_for(TeamKey.store(pair.store), store.places, gate)
    if teams and await get_pair(state, key) is None:
        started = await start_pair(
            key, store, commerce=commerce, gateway=gateway, state=state, settings=settings, closed=closed
        )
        if started is not None:
            return PassResult(key=key, outcome=started)
    if todo and closed is None:  # To Do's inbound step may write Planner: not while closed
        completed_in_todo, todo_seen = await _todo_in(key, state=state, gateway=gateway)
    rounds = settings.tasks.max_decide_rounds
    for round_no in range(1, rounds + 1):
        status = await get_pair(state, key)
        current = status.with_written(attempted) if status is not None else None
        if current is not None and current.unfinished_create:
            current = await _adopt_orphan(current, gateway=gateway, state=state)
        row = await read_store_task(commerce, pair)
        series, prefetched = SeriesStep.PLAIN, None
        if row is not None and row.recurrence is not None and _unmirrored(current):
            series, current, prefetched = await _series_step(
                key, row, current, commerce=commerce, gateway=gateway, state=state, plan_id=store.plan_id
            )
        task_id = current.planner.task_id if current and current.planner else None
        view, buckets = None, None
        if task_id and prefetched is not None:
            view, buckets = prefetched  # the task a recurring occurrence just adopted, read once
        elif task_id:
            view, buckets = await read_planner_task(
                gateway, task_id, store.plan_id, current.planner if current else None
            )
            if view is not None and completed_in_todo and view.percent_complete >= 100:
                # The app set 100 % on the worker's behalf: who completed it is the To Do owner.
                view = view.model_copy(update={"completed_by": view.completed_by or completed_in_todo})
        held = False
        if task_id and view is None:
            held = bool((await state.get_value("held", store.plan_id) or {}).get("held"))
        ctx = mirror_context(store, listed, pair.task, settings, deletions_held=held, teams_origin=teams)
        ctx = ctx.model_copy(update={"series": series}) if series is not SeriesStep.PLAIN else ctx
        decision = decide(row, view, current, ctx)
        if teams and decision.outcome is Outcome.TOMBSTONED and await published(state, key):
            decision = keep_published(decision)
        if decision.writes and closed is not None:
            # Decided and recorded, nothing written.
            return await _closed(state, key, closed, rounds=round_no)
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
            last = MirrorRecord(key=key, outcome="held", rounds=round_no, problems=[problem], error=str(exc))
            await record_mirror(state, last)
            await state.bump("tasks.planner_limit")
            telemetry.log_event(log, "planner limit", level=logging.WARNING, task_key=key, error=str(exc))
            return PassResult(key=key, outcome="held", rounds=round_no)
        if executed.status is None:
            if status is not None:
                await delete_pair(state, key)
        else:
            await put_pair(state, executed.status)
        await _record(state, decision, executed.writes, round_no)
        if row is not None and row.recurrence is not None:
            await _continue_series(key, executed.status, state)
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


def _unmirrored(status: PairStatus | None) -> bool:
    return status is None or (not status.tombstone and (status.planner is None or not status.planner.task_id))


async def _series_step(
    key: str,
    row: StoreTask,
    current: PairStatus | None,
    *,
    commerce: Any,
    gateway: Any,
    state: StateStore,
    plan_id: str,
) -> tuple[SeriesStep, PairStatus | None, tuple[PlannerTaskView, list[PlannerBucket]] | None]:
    """A recurring store task without a Planner task (shared/tasks/recurrence.py): start a series,
    adopt the task Planner made to continue the previous occurrence, or wait for it. Reads only on
    this path: the previous occurrence's pair, and its Planner task once in beta (`recurrence`) --
    or, when that occurrence is not mirrored yet, its store task."""
    recurrence = row.recurrence
    assert recurrence is not None
    if row.status is TaskStatus.COMPLETED:
        return SeriesStep.SKIP, current, None
    if recurrence.occurrence == 1 or not recurrence.previous_list:
        return SeriesStep.START, current, None
    previous, previous_key, found = await _previous_occurrence(
        row, commerce=commerce, gateway=gateway, state=state
    )
    step = series_step(recurrence, previous)
    following = previous.next_in_series if previous else None
    if step is SeriesStep.ADOPT and found is not None and found.recurrence is not None and following:
        view, buckets = await read_planner_task(gateway, following, plan_id, None)
        if view is None:  # deleted meanwhile: this occurrence starts a new series
            return SeriesStep.START, current, None
        side = PlannerSide.seen(view).model_copy(update={"series_id": found.recurrence.series_id})
        adopted = PairStatus(
            key=key,
            plan_id=plan_id,
            commerce=current.commerce if current else None,
            planner=side,
            last_decision="adopted the series' next task",
        )
        await put_pair(state, adopted)
        await state.bump("tasks.series_adopted")
        telemetry.log_event(
            log, "recurring task: adopted the series' next task", task_key=key, task_id=following
        )
        return step, adopted, (view, buckets)
    if step is SeriesStep.WAIT and previous_key is not None:
        pending = bool(previous and previous.pending)
        await state.put_value("serieswait", str(previous_key), {"key": key, "pending": pending})
    return step, current, None


SERIES_WALK = 12  # earlier occurrences looked at, at most, to find the series to continue


async def _previous_occurrence(
    row: StoreTask, *, commerce: Any, gateway: Any, state: StateStore
) -> tuple[Previous | None, PairKey | None, PlannerTask | None]:
    """The occurrence this one continues: back along the previous occurrences, past those that
    ended (completed or canceled) before they reached Planner, to the first one with a Planner task
    (its beta `recurrence` read once) or one still open and not mirrored yet (`pending`)."""
    listed = row.recurrence.previous_list if row.recurrence else None
    for _ in range(SERIES_WALK):
        if not listed:
            return None, None, None
        key = PairKey(task_list=listed, task=row.task, store=row.store)
        pair = await get_pair(state, str(key))
        side = pair.planner if pair is not None else None
        if side is not None and side.task_id:
            if not side.series_id:
                return None, key, None  # its task is in no series: nothing to continue
            found = await gateway.get_task_beta(side.task_id)
            following = found.recurrence.next_task_id if found and found.recurrence else None
            return (
                Previous(task_id=side.task_id, exists=found is not None, next_in_series=following),
                key,
                found,
            )
        before = await read_store_task(commerce, key)
        if before is None:
            return None, key, None
        ended = before.status in (TaskStatus.COMPLETED, TaskStatus.CANCELED)
        if not ended and not (pair is not None and pair.tombstone):
            return Previous(pending=True), key, None
        listed = before.recurrence.previous_list if before.recurrence else None
    return None, None, None


async def _continue_series(key: str, status: PairStatus | None, state: StateStore) -> None:
    """The occurrence after this one waits for it (`serieswait`). Once this one is completed or
    gone, Planner has continued the series (or it was stopped); once a pending one has its Planner
    task, there is a series to continue: request the next one's pass (the spine's sweep starts it;
    it waits again if it must)."""
    waiting = await state.get_value("serieswait", key)
    if not waiting:
        return
    planner = status.planner if status is not None else None
    commerce_done = (
        status is not None
        and status.commerce is not None
        and (
            status.commerce.status is TaskStatus.COMPLETED  # also one that ended before reaching Teams
        )
    )
    planner_done = planner is not None and planner.status is TaskStatus.COMPLETED
    done = status is None or status.tombstone or commerce_done or planner_done
    mirrored = bool(waiting.get("pending")) and planner is not None and bool(planner.task_id)
    if done or mirrored:
        await RequestQueue(state, TASK_PAIRS).request(str(waiting["key"]))
        await state.delete_value("serieswait", key)


async def _closed(state: StateStore, key: str, closed: Problem, *, rounds: int) -> PassResult:
    """A pass the kill switch or an opt-out stopped before any write: recorded and counted."""
    outcome = "suspended" if closed.kind is ProblemKind.SUSPENDED else "excluded"
    await record_mirror(state, MirrorRecord(key=key, outcome=outcome, rounds=rounds, problems=[closed]))
    await state.bump(f"tasks.{outcome}")
    return PassResult(key=key, outcome=outcome, rounds=rounds)


async def _todo_in(
    key: str, *, state: StateStore, gateway: MirrorGateway
) -> tuple[str | None, TodoSeen | None]:
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
    gateway: MirrorGateway,
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


async def _adopt_orphan(status: PairStatus, *, gateway: PlannerGateway, state: StateStore) -> PairStatus:
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
        previous = await get_mirror(state, decision.key)
        if previous is not None:
            reports, problems = previous.reports, previous.problems
    for r in decision.reports:
        telemetry.log_event(
            log, "task decision reported", task_key=decision.key, kind=r.kind.value, detail=r.detail
        )
        await state.bump(f"tasks.report.{r.kind.value}")
    await state.bump(f"tasks.{decision.outcome.value}")
    await record_mirror(
        state,
        MirrorRecord(
            key=decision.key,
            outcome=decision.outcome.value,
            writes=writes,
            rounds=rounds,
            reports=reports,
            problems=problems,
        ),
    )

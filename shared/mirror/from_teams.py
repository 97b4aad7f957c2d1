"""Tasks made in Teams becoming Commerce tasks, the I/O side (rules: shared/tasks/origin.py).

The poll records each candidate in state partition `fromteams` (pair key -> planner task, plan,
store, state) *before* it requests the pair's pass, so the request can be lost or repeated and
the pass still knows what to do. The first pass of a `TEAMS/...` pair (`start_pair`):

1. looks the pair's store task up in Commerce by its key (derived from the Planner task id): a
   task a crashed pass created is found here and adopted, never created twice;
2. else reads the Planner task in the **beta** representation (the only one with
   `creationSource`), maps its creator to a worker (the store's Entra user map, else Commerce's
   ExternalIdentityId), and lets `admit` decide; a declined task is recorded with its reason and
   never asked about again;
3. else creates the single-purpose store task (name, due day in the store's zone, status,
   assignee, creator, origin) -- unless the kill switch or an opt-out holds writes;
4. records the pair with both sides as they are now. From then on the ordinary pass mirrors it:
   status and assignee both ways with the same loop and conflict rules; title, due date, bucket
   and description stay Teams' (`MirrorContext.teams_origin`: nothing is written over them).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from shared import telemetry
from shared.commerce.errors import CommerceError
from shared.domain.plan import Problem, ProblemKind
from shared.domain.planner import PlannerTask
from shared.domain.tasks import StoreTask, TaskOrigin, TaskStatus
from shared.graph.errors import NotFound as GraphNotFound
from shared.mirror.context import StoreContext
from shared.mirror.keys import PairKey
from shared.mirror.pairs import MirrorRecord, put_pair, record_mirror
from shared.settings import Settings
from shared.state import StateStore
from shared.tasks import CommerceSide, PairStatus, PlannerSide, status_of
from shared.tasks.origin import Admission, OriginKind, admit
from shared.tasks.zones import store_zone

INTAKE = "fromteams"  # pair key -> {planner_task_id, plan_id, store, state, kind, reason, at}

log = logging.getLogger("cts.tasks.from_teams")


async def record_candidate(
    state: StateStore, key: str, planner_task_id: str, plan_id: str, store: str
) -> None:
    """The poll found a task made in Teams that may become a pair (written before the request)."""
    await state.put_value(
        INTAKE,
        key,
        {
            "planner_task_id": planner_task_id,
            "plan_id": plan_id,
            "store": store,
            "state": "requested",
            "at": datetime.now(UTC).isoformat(),
        },
    )


async def published(state: StateStore, key: str) -> bool:
    """Whether this pair's Planner task was published from Teams (it cannot be deleted)."""
    found = await state.get_value(INTAKE, key)
    return bool(found and found.get("kind") == OriginKind.PUBLISHED.value)


async def start_pair(
    key: str,
    store: StoreContext,
    *,
    commerce: Any,
    gateway: Any,
    state: StateStore,
    settings: Settings,
    closed: Problem | None = None,
) -> str | None:
    """Make the pair of a task made in Teams exist (see the module doc). Returns None when the pair
    now exists (the pass goes on), else the pass's outcome: 'declined', 'unknown', 'gone',
    'suspended' or 'excluded'. `closed`: why writes are held for this store (kill switch,
    opt-out; docs/control.md), None when they are not."""
    pair = PairKey.parse(key)
    intake = await state.get_value(INTAKE, key)
    row: StoreTask | None = await commerce.find_store_task(pair.task_list, pair.task, pair.store)
    planner_id = (row.planner_task_id if row is not None else None) or (intake or {}).get("planner_task_id")
    if planner_id is None:
        # No candidate recorded and no Commerce task: not a task the poll found (e.g. a stray event).
        return "unknown"
    if intake is not None and intake.get("state") == "declined" and row is None:
        return "declined"
    try:
        task: PlannerTask = await gateway.get_task(planner_id, version="beta")
    except GraphNotFound:
        await _answer(state, key, intake, "gone", None, "deleted in Teams before it reached Commerce")
        return "gone"
    if row is None:
        creator = await _worker_of(task.created_by, store, commerce)
        admission = admit(
            task, pair.store, settings.tasks.from_teams, creator=creator, managers=store.managers
        )
        if not admission.create:
            await _answer(state, key, intake, "declined", admission.kind, admission.reason)
            await record_mirror(state, MirrorRecord(key=key, outcome="declined"))
            await state.bump("tasks.from_teams.declined")
            telemetry.log_event(log, "task made in Teams stays in Teams", task_key=key, why=admission.reason)
            return "declined"
        if closed is not None:  # kill switch / opt-out (docs/control.md): nothing written
            outcome = "suspended" if closed.kind is ProblemKind.SUSPENDED else "excluded"
            await record_mirror(state, MirrorRecord(key=key, outcome=outcome, problems=[closed]))
            await state.bump(f"tasks.{outcome}")
            return outcome
        row = await _create(commerce, pair, task, admission, store, settings)
        await state.bump("tasks.from_teams.created")
        if admission.kind is OriginKind.PUBLISHED and admission.created_by is None:
            await state.bump("tasks.from_teams.creator_unmapped")
        telemetry.log_event(
            log, "task made in Teams created in Commerce", task_key=key, kind=str(admission.kind)
        )
        await _answer(state, key, intake, "paired", admission.kind, admission.reason)
    else:
        kind = OriginKind.PUBLISHED if row.origin is TaskOrigin.TEAMS_PUBLISHED else OriginKind.ADHOC
        await _answer(state, key, intake, "paired", kind, "adopted the Commerce task of an earlier pass")
        await state.bump("tasks.from_teams.adopted")
    await put_pair(state, _first_status(key, store.plan_id, row, task))
    return None


async def _worker_of(user_id: str | None, store: StoreContext, commerce: Any) -> str | None:
    if not user_id:
        return None
    known = store.worker_of.get(user_id)
    return known if known is not None else await commerce.worker_of_entra_user(user_id)


async def _create(
    commerce: Any,
    pair: PairKey,
    task: PlannerTask,
    admission: Admission,
    store: StoreContext,
    settings: Settings,
) -> StoreTask:
    status = status_of(task.percent_complete)
    zone = store_zone(store.time_zone, settings.tasks.default_time_zone).zone
    assignees = [store.worker_of[u] for u in task.assignee_ids if u in store.worker_of]
    publication = task.publication if admission.kind is OriginKind.PUBLISHED else None
    wanted = StoreTask(
        task_list=pair.task_list,
        task=pair.task,
        store=pair.store,
        legal_entity=settings.commerce.legal_entity,
        name=task.title,
        status=status,
        due_date=task.due.astimezone(zone).date() if task.due else None,
        assigned_to=assignees[0] if len(task.assignee_ids) == 1 and assignees else None,
        completed_at=task.completed if status is TaskStatus.COMPLETED else None,
        origin=TaskOrigin.TEAMS_PUBLISHED if publication is not None else TaskOrigin.TEAMS_ADHOC,
        created_by=admission.created_by,
        publication_id=publication.publication_id if publication else None,
        publication_name=publication.publication_name if publication else None,
        planner_task_id=task.task_id,
    )
    try:
        created: StoreTask = await commerce.create_store_task(wanted)
    except CommerceError:
        # A create whose answer was lost may have landed: the key is ours, look it up once more.
        found: StoreTask | None = await commerce.find_store_task(pair.task_list, pair.task, pair.store)
        if found is None:
            raise
        return found
    return created


def _first_status(key: str, plan_id: str, row: StoreTask, task: PlannerTask) -> PairStatus:
    """Both sides as they are now, so the ordinary pass that follows sees no change to copy."""
    return PairStatus(
        key=key,
        plan_id=plan_id,
        commerce=CommerceSide.seen(row),
        planner=PlannerSide.make(
            task_id=task.task_id,
            etag=task.etag,
            status=status_of(task.percent_complete),
            assignee_ids=task.assignee_ids,
            title=task.title,
            bucket=None,
            due=task.due,
            description_hash=None,
            observed_at=datetime.now(UTC),
        ),
        last_decision="created in Commerce from Teams",
    )


async def _answer(
    state: StateStore,
    key: str,
    intake: dict[str, Any] | None,
    answer: str,
    kind: OriginKind | None,
    reason: str,
) -> None:
    await state.put_value(
        INTAKE,
        key,
        {
            **(intake or {}),
            "state": answer,
            "kind": kind.value if kind else None,
            "reason": reason,
            "at": datetime.now(UTC).isoformat(),
        },
    )

"""To Do mode, the I/O around `shared/tasks/todo.py` (docs/tasks.md, "To Do mode").

State (task-mirroring table, small named values): partition `todo` holds each pair's `TodoSide`,
`todotask` maps a To Do task id back to its pair (the webhook's lookup), `todolist` each worker's
list id. A new list gets its `todoTask` subscription at once (the keeper's timer renews it).

`todo_inbound` runs at the start of a pass: a status the worker set in To Do is written to the
Planner task (If-Match; a 412 re-reads), so the pass carries it on to Commerce as a Teams change.
`todo_outbound` runs at the end: the worker's To Do copy is made to match the pair.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time

from shared import telemetry
from shared.domain.planner import TaskFields
from shared.domain.tasks import TaskStatus
from shared.domain.todo import TodoFields, TodoLink, TodoTask
from shared.graph.errors import NotFound, PreconditionFailed
from shared.mirror.ports import MirrorGateway, PlannerGateway, TodoGateway
from shared.settings import Settings
from shared.state import StateStore
from shared.tasks import DesiredPlannerTask, PairStatus, percent_of, status_of
from shared.tasks.todo import (
    CreateTodo,
    DeleteTodo,
    TodoSeen,
    TodoSide,
    UpdateTodo,
    WantedTodo,
    status_class,
    todo_actions,
    todo_status,
    wanted_todo,
    worker_change,
)

log = logging.getLogger("cts.tasks.todo")

SIDES = "todo"
TASKS = "todotask"
LISTS = "todolist"
APPLICATION = "Dynamics 365 Commerce"


def seen_of(task: TodoTask) -> TodoSeen:
    return TodoSeen(
        title=task.title,
        body=task.body,
        due=task.due.date() if task.due else None,
        status=status_class(task.status),
    )


async def load_side(state: StateStore, key: str) -> TodoSide | None:
    found = await state.get_value(SIDES, key)
    return TodoSide.model_validate(found) if found else None


async def _save_side(state: StateStore, key: str, side: TodoSide | None, before: TodoSide | None) -> None:
    if before is not None and before.task_id and (side is None or side.task_id != before.task_id):
        await state.delete_value(TASKS, before.task_id)
    if side is None:
        if before is not None:
            await state.delete_value(SIDES, key)
        return
    if side != before:
        await state.put_value(SIDES, key, side.model_dump(mode="json"))
    if side.task_id and (before is None or before.task_id != side.task_id):
        await state.put_value(TASKS, side.task_id, {"key": key, "user_id": side.user_id})


async def pair_of_todo_task(state: StateStore, task_id: str) -> str | None:
    """The pair a To Do task mirrors (for a change notification), or None if not ours."""
    found = await state.get_value(TASKS, task_id)
    return str(found["key"]) if found else None


async def todo_inbound(
    key: str, *, planner_task_id: str | None, gateway: MirrorGateway, state: StateStore
) -> tuple[str | None, TodoSeen | None]:
    """Carry a status the worker set in To Do to the Planner task. Returns the Entra id of the
    worker when they completed it (the Commerce write records who), and what the To Do task is
    now (for `todo_outbound`, saving a second read)."""
    side = await load_side(state, key)
    if side is None or side.dismissed or side.task_id is None:
        return None, None
    task = await gateway.get_todo_task(side.user_id, side.list_id, side.task_id)
    seen = seen_of(task) if task is not None else None
    change = worker_change(side, seen)
    if change.status is not None and planner_task_id is not None:
        await _set_planner_status(gateway, planner_task_id, change.status)
        await state.bump("tasks.todo.worker_changes")
        telemetry.log_event(
            log, "status set in To Do carried to Planner", task_key=key, status=change.status.value
        )
    elif change.side is not None and change.side.dismissed and not side.dismissed:
        await state.bump("tasks.todo.dismissed")
        telemetry.log_event(log, "To Do copy deleted by the worker: not re-created", task_key=key)
    await _save_side(state, key, change.side, side)
    completed = change.status is TaskStatus.COMPLETED
    return (side.user_id if completed else None), seen


async def _set_planner_status(gateway: PlannerGateway, task_id: str, status: TaskStatus) -> None:
    for _ in range(4):
        try:
            task = await gateway.get_task(task_id)
        except NotFound:
            return  # gone from Planner: the pass decides what that means
        if status_of(task.percent_complete) is status:
            return
        try:
            await gateway.update_task_fields(
                task_id, task.etag or "*", TaskFields(percent_complete=percent_of(status))
            )
            return
        except PreconditionFailed:
            continue  # changed meanwhile: read again
    raise PreconditionFailed(f"planner task {task_id} kept changing while a To Do status was applied")


def _fields(want: WantedTodo, key: str, *, create: bool) -> TodoFields:
    due = datetime.combine(want.due, time(0), tzinfo=UTC) if want.due else None
    return TodoFields(
        title=want.title,
        body=want.body,
        status=todo_status(want.status),
        due=due,
        link=TodoLink(application_name=APPLICATION, display_name=key, external_id=key) if create else None,
    )


async def _list_of(user_id: str, *, gateway: TodoGateway, state: StateStore, settings: Settings) -> str:
    known = await state.get_value(LISTS, user_id)
    if known and known.get("list_id"):
        return str(known["list_id"])
    found = await gateway.ensure_todo_list(user_id, settings.tasks.todo_list_name)
    await state.put_value(LISTS, user_id, {"list_id": found.list_id, "at": datetime.now(UTC).isoformat()})
    await _subscribe(gateway=gateway, state=state, settings=settings)
    return str(found.list_id)


async def _subscribe(*, gateway: TodoGateway, state: StateStore, settings: Settings) -> None:
    """A list just taken into use gets its `todoTask` subscription now, not at the keeper's next
    run: the list is in the state already, so it is in the keeper's desired set. A failure is
    logged, not raised: the keeper's timer retries, and the pair's next pass covers the gap."""
    if not settings.webhook.subscriptions_enabled or not settings.webhook.client_state:
        return
    from shared.drift.subscriptions import SubscriptionKeeper

    try:
        await SubscriptionKeeper(gateway, state, settings.webhook).ensure()
    except Exception as exc:
        telemetry.log_event(
            log, "To Do subscription not created; the keeper retries", level=logging.WARNING, error=str(exc)
        )


async def _adopt(key: str, side: TodoSide, gateway: TodoGateway) -> TodoTask | None:
    """An unfinished create: the task it made, found by the linked resource naming the pair."""
    tasks: list[TodoTask] = await gateway.list_todo_tasks(side.user_id, side.list_id)
    return next((t for t in tasks if any(link.external_id == key for link in t.links)), None)


async def todo_outbound(
    key: str,
    status: PairStatus | None,
    desired: DesiredPlannerTask | None,
    *,
    seen: TodoSeen | None,
    gateway: TodoGateway,
    state: StateStore,
    settings: Settings,
) -> int:
    """Make the worker's To Do copy match the pair; returns the number of To Do writes."""
    side = await load_side(state, key)
    before = side
    want = (
        wanted_todo(status, title=desired.title, body=desired.description, due=desired.due)
        if desired is not None
        else None
    )
    writes = 0
    for action in todo_actions(side, want, seen):
        if isinstance(action, DeleteTodo):
            await gateway.delete_todo_task(action.user_id, action.list_id, action.task_id)
            side = None
        elif isinstance(action, CreateTodo):
            list_id = await _list_of(action.user_id, gateway=gateway, state=state, settings=settings)
            adopted = None
            if (
                side is not None
                and side.creating
                and side.user_id == action.user_id
                and side.list_id == list_id
            ):
                adopted = await _adopt(key, side, gateway)
            intent = TodoSide(user_id=action.user_id, list_id=list_id, creating=True)
            await _save_side(state, key, intent, side)
            side = intent
            if adopted is not None:
                task = adopted
                if seen_of(task).fingerprint != action.want.fingerprint:
                    task = await gateway.update_todo_task(
                        action.user_id, list_id, task.task_id, _fields(action.want, key, create=False)
                    )
            else:
                task = await gateway.create_todo_task(
                    action.user_id, list_id, _fields(action.want, key, create=True)
                )
            side = TodoSide(
                user_id=action.user_id,
                list_id=list_id,
                task_id=task.task_id,
                status=action.want.status,
                fingerprint=action.want.fingerprint,
            )
        elif isinstance(action, UpdateTodo):
            await gateway.update_todo_task(
                action.user_id, action.list_id, action.task_id, _fields(action.want, key, create=False)
            )
            assert side is not None
            side = side.model_copy(
                update={"status": action.want.status, "fingerprint": action.want.fingerprint}
            )
        writes += 1
    if want is None:
        side = None
    await _save_side(state, key, side, before)
    if writes:
        await state.bump("tasks.todo.writes", writes)
    return writes

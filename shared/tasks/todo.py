"""To Do mode (pure): a store task assigned to exactly one worker is also mirrored into that
worker's own To Do list, where Graph offers `todoTask` change notifications (Planner has none).

Planner stays the Teams side of the pair (`decide` is unchanged). To Do is a follower with one way
back: a status the worker sets in To Do is applied to the Planner task first (so Teams shows it
too), and the normal pass then carries it to Commerce.

- `worker_change(side, seen)`: what the worker did in To Do since we last wrote or saw it: a new
  status class (not started / in progress / completed), or a deletion (the task is *dismissed*
  for that worker: not re-created, and nothing is cancelled -- deleting a personal copy is not
  cancelling a store task).
- `todo_actions(side, want, seen)`: what to write so the To Do task shows `want` (create, update,
  delete, move to another worker). Title, body and due date belong to Commerce, like in Planner:
  an edit in To Do is overwritten. Only the status class is compared for status, so "waiting on
  others" or "deferred" set by the worker are not overwritten while the class is the same.

Our own writes come back as notifications; their fingerprint equals what we recorded, so they
change nothing (echo suppression by fingerprint).
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.tasks import TaskStatus
from shared.domain.todo import TodoStatus
from shared.tasks.mapping import normalized_text
from shared.tasks.state import PairStatus, fingerprint

_CLASS = {
    TodoStatus.NOT_STARTED: TaskStatus.NOT_STARTED,
    TodoStatus.DEFERRED: TaskStatus.NOT_STARTED,
    TodoStatus.IN_PROGRESS: TaskStatus.IN_PROGRESS,
    TodoStatus.WAITING_ON_OTHERS: TaskStatus.IN_PROGRESS,
    TodoStatus.COMPLETED: TaskStatus.COMPLETED,
}
_TODO = {
    TaskStatus.NOT_STARTED: TodoStatus.NOT_STARTED,
    TaskStatus.IN_PROGRESS: TodoStatus.IN_PROGRESS,
    TaskStatus.COMPLETED: TodoStatus.COMPLETED,
}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def status_class(status: TodoStatus) -> TaskStatus:
    """To Do's five statuses -> the three a store task has (deferred = not started, waiting on
    others = in progress)."""
    return _CLASS[status]


def todo_status(status: TaskStatus) -> TodoStatus:
    if status is TaskStatus.CANCELED:
        raise ValueError("a canceled task is removed from To Do, it has no To Do status")
    return _TODO[status]


def todo_fingerprint(title: str, body: str, due: date | None, status: TaskStatus) -> str:
    return fingerprint("todo", title, normalized_text(body), due.isoformat() if due else None, status.value)


class TodoSeen(_Model):
    """A To Do task as read now (the gateway's TodoTask, reduced to what is mirrored)."""

    title: str
    body: str
    due: date | None
    status: TaskStatus

    @property
    def fingerprint(self) -> str:
        return todo_fingerprint(self.title, self.body, self.due, self.status)


class TodoSide(_Model):
    """Per pair: the worker's To Do copy as we last wrote or saw it."""

    user_id: str
    list_id: str
    task_id: str | None = Field(default=None, description="None while being created (see `creating`)")
    status: TaskStatus = TaskStatus.NOT_STARTED
    fingerprint: str = ""
    dismissed: bool = Field(default=False, description="The worker deleted it: not re-created for them")
    creating: bool = Field(
        default=False,
        description="A create was sent and its id not recorded (crash, lost response): the next pass "
        "adopts the task whose linked resource names this pair instead of creating another",
    )


class WantedTodo(_Model):
    """The To Do task a pair should have: for its single assignee, with Commerce's fields."""

    user_id: str
    title: str
    body: str
    due: date | None
    status: TaskStatus

    @property
    def fingerprint(self) -> str:
        return todo_fingerprint(self.title, self.body, self.due, self.status)


def wanted_todo(
    status: PairStatus | None, *, title: str, body: str, due: datetime | None
) -> WantedTodo | None:
    """None when the pair should have no To Do copy: not mirrored, canceled, or not assigned to
    exactly one worker (a store-wide or shared task stays in Planner only)."""
    if status is None or status.tombstone or status.planner is None or status.planner.task_id is None:
        return None
    if len(status.planner.assignee_ids) != 1:
        return None
    if status.planner.status is TaskStatus.CANCELED:
        return None
    (user_id,) = status.planner.assignee_ids
    return WantedTodo(
        user_id=user_id,
        title=title,
        body=body,
        due=due.date() if due else None,
        status=status.planner.status,
    )


class WorkerChange(_Model):
    status: TaskStatus | None = Field(default=None, description="The class the worker set, if changed")
    side: TodoSide | None = None


def worker_change(side: TodoSide | None, seen: TodoSeen | None) -> WorkerChange:
    """`seen` is the To Do task read now (None: it is gone). Only meaningful for a side with a
    task; anything else is no change."""
    if side is None or side.dismissed or side.task_id is None:
        return WorkerChange(side=side)
    if seen is None:
        return WorkerChange(side=side.model_copy(update={"task_id": None, "dismissed": True}))
    if seen.status is side.status:
        return WorkerChange(side=side)
    return WorkerChange(
        status=seen.status,
        side=side.model_copy(update={"status": seen.status, "fingerprint": seen.fingerprint}),
    )


class CreateTodo(_Model):
    user_id: str
    want: WantedTodo


class UpdateTodo(_Model):
    user_id: str
    list_id: str
    task_id: str
    want: WantedTodo


class DeleteTodo(_Model):
    user_id: str
    list_id: str
    task_id: str


TodoAction = CreateTodo | UpdateTodo | DeleteTodo


def todo_actions(
    side: TodoSide | None, want: WantedTodo | None, seen: TodoSeen | None
) -> tuple[TodoAction, ...]:
    """What to write so the worker's To Do shows `want`. `seen` is the task as read now (None
    when not read or gone); without it the recorded fingerprint stands for it."""
    current = seen.fingerprint if seen is not None else (side.fingerprint if side else "")
    delete: tuple[TodoAction, ...] = ()
    if side is not None and not side.dismissed and side.task_id:
        delete = (DeleteTodo(user_id=side.user_id, list_id=side.list_id, task_id=side.task_id),)
    if want is None:
        return delete
    if side is not None and side.user_id != want.user_id:  # reassigned: move the copy
        return (*delete, CreateTodo(user_id=want.user_id, want=want))
    if side is None or (side.task_id is None and not side.dismissed):  # none yet, or an unfinished create
        return (CreateTodo(user_id=want.user_id, want=want),)
    if side.dismissed or side.task_id is None:
        return ()
    if current == want.fingerprint:
        return ()
    return (UpdateTodo(user_id=side.user_id, list_id=side.list_id, task_id=side.task_id, want=want),)

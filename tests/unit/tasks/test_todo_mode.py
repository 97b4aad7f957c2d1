"""To Do mode's pure rules: who gets a copy, what a worker's change means, what we write -- and a
Hypothesis run of worker edits, reassignments and our own echoes: it converges, never ping-pongs,
and never re-creates a copy the worker deleted."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from shared.domain.tasks import TaskStatus
from shared.domain.todo import TodoStatus
from shared.tasks import CommerceSide, PairStatus, PlannerSide
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

STATUSES = [TaskStatus.NOT_STARTED, TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED]


def pair(
    assignees: frozenset[str], status: TaskStatus = TaskStatus.NOT_STARTED, tombstone: bool = False
) -> PairStatus:
    planner = PlannerSide.make(
        task_id="t1", status=status, assignee_ids=assignees, title="Count stock", bucket="B", due=None,
        description_hash=None,
    )  # fmt: skip
    return PairStatus(key="TL/1@0042", plan_id="p", commerce=CommerceSide.make(status, None), planner=planner,
                      tombstone=tombstone)  # fmt: skip


def test_only_a_task_assigned_to_exactly_one_worker_gets_a_to_do_copy() -> None:
    due = datetime(2030, 4, 1, 19, tzinfo=UTC)
    one = wanted_todo(pair(frozenset({"u1"})), title="Count stock", body="b", due=due)
    assert one is not None and one.user_id == "u1" and one.due == date(2030, 4, 1)
    assert wanted_todo(pair(frozenset()), title="x", body="", due=None) is None  # store-wide
    assert wanted_todo(pair(frozenset({"u1", "u2"})), title="x", body="", due=None) is None
    assert wanted_todo(pair(frozenset({"u1"}), tombstone=True), title="x", body="", due=None) is None


def test_to_do_statuses_fold_into_the_three_store_task_statuses() -> None:
    assert status_class(TodoStatus.DEFERRED) is TaskStatus.NOT_STARTED
    assert status_class(TodoStatus.WAITING_ON_OTHERS) is TaskStatus.IN_PROGRESS
    assert status_class(TodoStatus.COMPLETED) is TaskStatus.COMPLETED


def test_a_status_set_in_to_do_is_a_worker_change_and_a_deletion_dismisses_the_copy() -> None:
    side = TodoSide(user_id="u1", list_id="L", task_id="x", status=TaskStatus.NOT_STARTED, fingerprint="f")
    seen = TodoSeen(title="Count stock", body="", due=None, status=TaskStatus.COMPLETED)
    change = worker_change(side, seen)
    assert change.status is TaskStatus.COMPLETED and change.side is not None
    assert change.side.status is TaskStatus.COMPLETED
    assert worker_change(change.side, seen).status is None  # read again: nothing new
    gone = worker_change(side, None)
    assert gone.status is None and gone.side is not None and gone.side.dismissed
    want = WantedTodo(user_id="u1", title="Count stock", body="", due=None, status=TaskStatus.NOT_STARTED)
    assert todo_actions(gone.side, want, None) == ()  # not re-created for that worker


def test_reassigning_moves_the_copy_and_unassigning_removes_it() -> None:
    side = TodoSide(user_id="u1", list_id="L", task_id="x", fingerprint="f")
    want = WantedTodo(user_id="u2", title="Count stock", body="", due=None, status=TaskStatus.NOT_STARTED)
    moved = todo_actions(side, want, None)
    assert [type(a) for a in moved] == [DeleteTodo, CreateTodo] and moved[1].user_id == "u2"  # type: ignore[union-attr]
    assert [type(a) for a in todo_actions(side, None, None)] == [DeleteTodo]


# -- simulation --------------------------------------------------------------------------------
_EVENT = st.one_of(
    st.tuples(st.just("worker_status"), st.sampled_from(list(TodoStatus))),
    st.tuples(st.just("worker_title"), st.sampled_from(["mine", "other"])),
    st.tuples(st.just("worker_delete"), st.none()),
    st.tuples(st.just("commerce_status"), st.sampled_from(STATUSES)),
    st.tuples(st.just("commerce_title"), st.sampled_from(["Count stock", "Count all stock"])),
    st.tuples(st.just("assign"), st.sampled_from([None, "u1", "u2"])),
    st.tuples(st.just("echo"), st.none()),  # a notification of our own last write: a pass with nothing new
)


@given(st.lists(_EVENT, max_size=25))
def test_passes_converge_never_ping_pong_and_respect_a_dismissal(events: list[tuple[str, object]]) -> None:
    title, status, user = "Count stock", TaskStatus.NOT_STARTED, "u1"
    copies: dict[tuple[str, str], dict[str, object]] = {}  # (user, task id) -> the To Do task
    side: TodoSide | None = None
    dismissed_by: set[str] = set()
    ids = iter(range(10_000))

    def seen_now(s: TodoSide | None) -> TodoSeen | None:
        if s is None or s.task_id is None:
            return None
        t = copies.get((s.user_id, s.task_id))
        return None if t is None else TodoSeen(title=str(t["title"]), body="", due=None,
                                               status=status_class(t["status"]))  # type: ignore[arg-type]  # fmt: skip

    def run_pass() -> int:
        nonlocal side, status
        writes = 0
        change = worker_change(side, seen_now(side))
        if change.side is not None and change.side.dismissed and not (side and side.dismissed):
            dismissed_by.add(change.side.user_id)
        side = change.side
        if change.status is not None:
            status = change.status  # Planner takes it, the pass carries it to Commerce
        want = (
            None if user is None else WantedTodo(user_id=user, title=title, body="", due=None, status=status)
        )
        for action in todo_actions(side, want, seen_now(side)):
            writes += 1
            if isinstance(action, DeleteTodo):
                copies.pop((action.user_id, action.task_id), None)
                side = None
            elif isinstance(action, CreateTodo):
                assert action.user_id not in dismissed_by or side is None or side.user_id != action.user_id
                tid = f"x{next(ids)}"
                copies[(action.user_id, tid)] = {
                    "title": action.want.title,
                    "status": todo_status(action.want.status),
                }
                side = TodoSide(user_id=action.user_id, list_id="L", task_id=tid, status=action.want.status,
                                fingerprint=action.want.fingerprint)  # fmt: skip
            elif isinstance(action, UpdateTodo):
                copy = copies[(action.user_id, action.task_id)]
                copy["title"] = action.want.title
                if status_class(copy["status"]) is not action.want.status:  # type: ignore[arg-type]
                    copy["status"] = todo_status(action.want.status)
                assert side is not None
                side = side.model_copy(
                    update={"status": action.want.status, "fingerprint": action.want.fingerprint}
                )
        if want is None:
            side = None
        return writes

    run_pass()
    for kind, value in events:
        live = side is not None and side.task_id is not None and (side.user_id, side.task_id) in copies
        if kind == "worker_status" and live:
            assert side is not None and side.task_id is not None
            copies[(side.user_id, side.task_id)]["status"] = value
        elif kind == "worker_title" and live:
            assert side is not None and side.task_id is not None
            copies[(side.user_id, side.task_id)]["title"] = value
        elif kind == "worker_delete" and live:
            assert side is not None and side.task_id is not None
            del copies[(side.user_id, side.task_id)]
        elif kind == "commerce_status":
            status = value  # type: ignore[assignment]
        elif kind == "commerce_title":
            title = str(value)
        elif kind == "assign":
            user = value  # type: ignore[assignment]
        run_pass()
        assert run_pass() == 0, "a second pass with nothing new must write nothing (no ping-pong)"
        mine = [k for k in copies if side is not None and k[0] == side.user_id]
        assert len(mine) <= 1, "never two copies for one worker"
        if side is not None and side.task_id is not None and not side.dismissed:
            copy = copies[(side.user_id, side.task_id)]
            assert copy["title"] == title and status_class(copy["status"]) is status  # type: ignore[arg-type]
        if user is None:
            assert side is None


def test_to_do_list_subscriptions_are_the_apps_own_in_the_ops_view() -> None:
    from datetime import timedelta

    from shared.domain.subscriptions import Subscription
    from shared.drift.subscriptions import todo_resource
    from shared.ops.subscriptions import subscription_rows
    from shared.settings import WebhookSettings

    hook = WebhookSettings(
        notification_url="https://app.example/api/graph/notifications?code=k", client_state="s"
    )
    resource = todo_resource("u1", "L1")
    sub = Subscription(
        subscription_id="s1", resource=resource, change_type="created,updated,deleted",
        notification_url=hook.notification_url, lifecycle_notification_url=hook.notification_url,
        expiration=datetime.now(UTC) + timedelta(days=2),
    )  # fmt: skip
    rows = subscription_rows([sub], hook, extra_resources=[resource])
    mine = next(r for r in rows if r["subscription_id"] == "s1")
    assert mine["ours"] and mine["next_action"] == "none"
    assert not next(r for r in subscription_rows([sub], hook) if r["subscription_id"] == "s1")["ours"]

"""Both sides edited at random, signals lost, duplicated and stale; the mirror must converge.

Invariants: after a quiet period both sides agree on status and assignee and Planner's
Commerce-owned fields equal Commerce's; with no edits a second sync writes nothing (no
ping-pong); a canceled (tombstoned) task never reappears in Planner.
"""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from tasks_sim import World

from shared.domain.task_mirror import PlannerTaskView
from shared.domain.tasks import TaskStatus
from shared.tasks import desired_planner_task, status_of
from shared.tasks.mapping import assignee_ids, owned_differences

STATUSES = st.sampled_from([TaskStatus.NOT_STARTED, TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED])
WORKERS = st.sampled_from([None, "000101", "000102", "000999"])  # 000999 has no Entra user
PERCENTS = st.sampled_from([0, 30, 50, 100])
TEAMS_ASSIGNEES = st.sampled_from(
    [
        frozenset(),
        frozenset({"u-ann"}),
        frozenset({"u-bob"}),
        frozenset({"u-ann", "u-bob"}),
        frozenset({"u-x"}),
    ]
)
USERS = st.sampled_from(["u-ann", "u-bob", "u-x"])


class TaskMirror(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = World()
        self.world.sync()
        self.old_view: PlannerTaskView | None = None
        self.created_when_tombstoned: int | None = None

    # -- edits --------------------------------------------------------------------------------
    def _tick(self) -> None:
        self.world.clock.tick()

    @rule(
        name=st.sampled_from(["Count the safe", "Count the safe twice", "Check the doors"]),
        days=st.integers(-3, 3),
    )
    def edit_commerce_owned_fields(self, name: str, days: int) -> None:
        self._tick()
        self.world.commerce.edit(name=name, due_date=date(2024, 3, 10) + timedelta(days=days))

    @rule(status=STATUSES)
    def edit_commerce_status(self, status: TaskStatus) -> None:
        self._tick()
        self.world.commerce.edit(status=status)

    @rule(worker=WORKERS)
    def edit_commerce_assignee(self, worker: str | None) -> None:
        self._tick()
        self.world.commerce.edit(assigned_to=worker)

    @rule()
    def cancel_in_commerce(self) -> None:
        self._tick()
        self.world.commerce.edit(status=TaskStatus.CANCELED)

    def _teams(self, **changes: object) -> None:
        self._tick()
        if self.world.task_id in self.world.planner.tasks:
            self.old_view = self.world.planner_view()
            user = changes.pop("user", "u-ann")
            assert isinstance(user, str)
            self.world.planner.user_edit(self.world.task_id or "", user=user, **changes)

    @rule(percent=PERCENTS, user=USERS)
    def edit_teams_status(self, percent: int, user: str) -> None:
        self._teams(percent=percent, user=user)

    @rule(assignees=TEAMS_ASSIGNEES)
    def edit_teams_assignee(self, assignees: frozenset[str]) -> None:
        self._teams(assignees=assignees)

    @rule(
        title=st.sampled_from(["mine now", "Count the safe"]),
        bucket=st.sampled_from(["Opening checklist", "Mine"]),
    )
    def edit_teams_owned_fields(self, title: str, bucket: str) -> None:
        self._teams(title=title, bucket=bucket)

    @rule(text=st.sampled_from(["scribbled over", ""]))
    def edit_teams_description(self, text: str) -> None:
        self._teams(description=text)

    @rule()
    def delete_in_teams(self) -> None:
        self._tick()
        self.world.planner.tasks.pop(self.world.task_id or "", None)

    # -- signals ------------------------------------------------------------------------------
    @rule()
    def sync(self) -> None:
        self._tick()
        self.world.sync()

    @rule()
    def lost_signal(self) -> None:
        """A poll that misses the change: nothing runs; a later pass must still catch it."""
        self._tick()

    @rule()
    def duplicated_signal(self) -> None:
        """The same signal twice (or our own echo arriving): the second run writes nothing."""
        self._tick()
        self.world.sync()
        self._tick()
        assert self.world.sync().writes == 0

    @precondition(lambda self: self.old_view is not None)
    @rule()
    def stale_read(self) -> None:
        """The read is an older version of the Planner task: writes meet 412, or Commerce holds."""
        self._tick()
        self.world.sync(stale_view=self.old_view)
        self.old_view = None

    # -- invariants ---------------------------------------------------------------------------
    @invariant()
    def canceled_task_never_reappears(self) -> None:
        status = self.world.status
        if status is not None and status.tombstone:
            if self.created_when_tombstoned is None:
                self.created_when_tombstoned = self.world.planner.created
            assert self.world.planner.created == self.created_when_tombstoned
            assert self.world.task_id is None

    @rule()
    def quiesce(self) -> None:
        """No edits for a while: the sides agree, and a second sync writes nothing."""
        world = self.world
        world.clock.tick()
        world.sync()
        for _ in range(2):
            world.clock.tick()
            step = world.sync()
            assert step.writes == 0, step.decisions
        status, task = world.status, world.commerce.read()
        assert status is not None and task is not None
        if status.tombstone:
            assert world.planner.tasks == {}
            return
        view = world.planner_view()
        assert view is not None
        assert status_of(view.percent_complete) is task.status
        assert view.assignee_ids == assignee_ids(task.assigned_to, world.ctx)
        assert owned_differences(desired_planner_task(task, world.ctx), view, world.ctx) == ()


TaskMirror.TestCase.settings = settings(
    max_examples=400,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_task_mirror_converges = TaskMirror.TestCase

"""A simulated Commerce store task and Planner task, and the executor contract of shared.tasks.decide.

Both sides bump their version (ETag) on every write and answer a write with a stale If-Match with
`PreconditionFailed` (HTTP 412). The executor re-reads and re-decides on 412, as documented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from shared.domain.task_mirror import PlannerTaskView
from shared.domain.tasks import StoreTask, TaskDefinition, TaskStatus
from shared.tasks import (
    CreatePlannerTask,
    Decision,
    DeletePlannerTask,
    MirrorContext,
    PairStatus,
    UpdatePlannerDetails,
    UpdatePlannerFields,
    WriteCommerceAssignee,
    WriteCommerceStatus,
    decide,
)

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
APP_USER = "app-cts"
USERS = {"000101": "u-ann", "000102": "u-bob"}  # personnel number -> Entra user id
DEFINITION = TaskDefinition(
    task_list="TL-7",
    id="1",
    name="Count the safe",
    notes="Before the store opens.",
    due_offset_days=2,
    contact_person="000777",
    link="https://contoso.example/tasks/count-safe",
)


def make_context(**changes: object) -> MirrorContext:
    values: dict[str, object] = {
        "plan_id": "plan-42",
        "list_name": "Opening checklist",
        "definition": DEFINITION,
        "time_zone": "Pacific Standard Time",
        "user_of": dict(USERS),
        "worker_of": {u: p for p, u in USERS.items()},
        "contact_names": {"000777": "Dana Store"},
    }
    values.update(changes)
    return MirrorContext.model_validate(values)


def make_store_task(**changes: object) -> StoreTask:
    values: dict[str, object] = {
        "task_list": "TL-7",
        "task": "1",
        "store": "0042",
        "name": "Count the safe",
        "notes": "Before the store opens.",
        "target_date": date(2024, 3, 8),
        "modified_at": T0,
        "etag": 'W/"c1"',
    }
    values.update(changes)
    return StoreTask.model_validate(values)


class PreconditionFailed(Exception):
    """412: the If-Match ETag is not the current one."""


@dataclass
class Clock:
    now: datetime = T0

    def tick(self, minutes: int = 1) -> datetime:
        self.now += timedelta(minutes=minutes)
        return self.now


@dataclass
class SimCommerce:
    clock: Clock
    task: StoreTask | None
    version: int = 1
    writes: int = 0

    def read(self) -> StoreTask | None:
        return self.task

    def _bump(self, **changes: object) -> None:
        assert self.task is not None
        self.version += 1
        self.task = self.task.model_copy(
            update={**changes, "etag": f'W/"c{self.version}"', "modified_at": self.clock.now}
        )

    def edit(self, **changes: object) -> None:
        """A person (HQ or POS) changes the record."""
        if self.task is not None:
            self._bump(**changes)

    def write(self, action: WriteCommerceStatus | WriteCommerceAssignee, if_match: str | None) -> str:
        if self.task is None:
            raise PreconditionFailed("404: deleted meanwhile")
        if if_match is not None and if_match != self.task.etag:
            raise PreconditionFailed(self.task.etag)
        self.writes += 1
        if isinstance(action, WriteCommerceStatus):
            done = action.status is TaskStatus.COMPLETED
            self._bump(
                status=action.status,
                completed_by=action.completed_by if done else None,
                completed_at=action.completed_at if done else None,
            )
        else:
            self._bump(assigned_to=action.assigned_to)
        assert self.task is not None and self.task.etag is not None
        return self.task.etag


@dataclass
class SimTask:
    task_id: str
    title: str
    bucket: str
    due: datetime | None
    percent: int
    assignees: frozenset[str]
    description: str
    etag: str = ""
    details_etag: str = ""
    completed_at: datetime | None = None
    completed_by: str | None = None


@dataclass
class SimPlanner:
    clock: Clock
    tasks: dict[str, SimTask] = field(default_factory=dict)
    version: int = 0
    writes: int = 0
    created: int = 0

    def _etag(self) -> str:
        self.version += 1
        return f'W/"p{self.version:06d}"'

    def view(self, task_id: str | None, observed_at: datetime) -> PlannerTaskView | None:
        t = self.tasks.get(task_id or "")
        if t is None:
            return None
        return PlannerTaskView(
            task_id=t.task_id,
            plan_id="plan-42",
            etag=t.etag,
            title=t.title,
            bucket_name=t.bucket,
            due=t.due,
            percent_complete=t.percent,
            assignee_ids=t.assignees,
            completed_at=t.completed_at,
            completed_by=t.completed_by,
            description=t.description,
            details_etag=t.details_etag,
            observed_at=observed_at,
        )

    def _set_percent(self, t: SimTask, percent: int, by: str) -> None:
        if percent >= 100 and t.percent < 100:
            t.completed_at, t.completed_by = self.clock.now, by
        elif percent < 100:
            t.completed_at = t.completed_by = None
        t.percent = percent

    def create(self, action: CreatePlannerTask) -> tuple[str, str]:
        self.writes += 1
        self.created += 1
        want = action.task
        task_id = f"pt-{self.created}"
        t = SimTask(task_id, want.title, want.bucket, want.due, 0, want.assignee_ids, want.description)
        self._set_percent(t, want.percent_complete, APP_USER)
        t.etag, t.details_etag = self._etag(), self._etag()
        self.tasks[task_id] = t
        return task_id, t.etag

    def _current(self, task_id: str, if_match: str | None, details: bool = False) -> SimTask:
        t = self.tasks.get(task_id)
        if t is None:
            raise PreconditionFailed("404: deleted meanwhile")  # executor: re-read, re-decide
        if if_match != (t.details_etag if details else t.etag):
            raise PreconditionFailed(t.etag)
        self.writes += 1
        return t

    def update(self, action: UpdatePlannerFields) -> None:
        t = self._current(action.task_id, action.if_match)
        if action.title is not None:
            t.title = action.title
        if action.bucket is not None:
            t.bucket = action.bucket
        if action.due is not None or action.clear_due:
            t.due = action.due
        if action.percent_complete is not None:
            self._set_percent(t, action.percent_complete, APP_USER)
        t.assignees = (t.assignees - action.unassign) | action.assign
        t.etag = self._etag()

    def update_details(self, action: UpdatePlannerDetails) -> None:
        t = self._current(action.task_id, action.if_match, details=True)
        t.description = action.description
        t.details_etag = self._etag()

    def delete(self, action: DeletePlannerTask) -> None:
        if action.task_id not in self.tasks:
            return  # 404 on DELETE counts as done
        self._current(action.task_id, action.if_match)
        del self.tasks[action.task_id]

    def user_edit(self, task_id: str, user: str = "u-ann", **changes: object) -> None:
        """Someone changes the task in Teams."""
        t = self.tasks.get(task_id)
        if t is None:
            return
        for name, value in changes.items():
            if name == "percent":
                assert isinstance(value, int)
                self._set_percent(t, value, user)
            elif name == "description":
                assert isinstance(value, str)
                t.description = value
                t.details_etag = self._etag()
                continue
            else:
                setattr(t, name, value)
        t.etag = self._etag()


@dataclass
class StepResult:
    decisions: list[Decision]
    writes: int
    stale: int  # 412s met (each followed by a re-read and a new decision)


@dataclass
class World:
    ctx: MirrorContext = field(default_factory=make_context)
    clock: Clock = field(default_factory=Clock)
    commerce: SimCommerce = field(init=False)
    planner: SimPlanner = field(init=False)
    status: PairStatus | None = None
    first_seen: dict[str, datetime] = field(default_factory=dict)  # Planner ETag -> when observed

    def __post_init__(self) -> None:
        self.commerce = SimCommerce(self.clock, make_store_task())
        self.planner = SimPlanner(self.clock)

    @property
    def task_id(self) -> str | None:
        s = self.status
        return s.planner.task_id if s and s.planner else None

    def planner_view(self) -> PlannerTaskView | None:
        """A read as the poll does it: observed_at = when this ETag was first seen."""
        t = self.planner.tasks.get(self.task_id or "")
        if t is None:
            return None
        observed = self.first_seen.setdefault(t.etag, self.clock.now)
        return self.planner.view(t.task_id, observed)

    def sync(self, stale_view: PlannerTaskView | None = None, rounds: int = 6) -> StepResult:
        """One executor run for the pair: read, decide, apply; 412 -> re-read, re-decide."""
        decisions: list[Decision] = []
        writes_before = self.commerce.writes + self.planner.writes
        attempted: PairStatus | None = None
        for n in range(rounds):
            view = stale_view if (n == 0 and stale_view is not None) else self.planner_view()
            status = self.status.with_written(attempted) if self.status is not None else None
            decision = decide(self.commerce.read(), view, status, self.ctx)
            decisions.append(decision)
            try:
                new = self.apply(decision)
            except PreconditionFailed:
                attempted = decision.status
                continue
            self.status = new
            writes = self.commerce.writes + self.planner.writes - writes_before
            return StepResult(decisions, writes, stale=n)
        raise AssertionError(f"no convergence in {rounds} rounds: {decisions[-1]}")

    def apply(self, decision: Decision) -> PairStatus | None:
        status = decision.status
        commerce_etag: str | None = None  # the ETag our previous Commerce write returned
        for action in decision.actions:
            if isinstance(action, CreatePlannerTask):
                task_id, etag = self.planner.create(action)
                assert status is not None
                status = status.created(task_id, etag, self.planner.tasks[task_id].details_etag)
            elif isinstance(action, UpdatePlannerFields):
                self.planner.update(action)
            elif isinstance(action, UpdatePlannerDetails):
                self.planner.update_details(action)
            elif isinstance(action, DeletePlannerTask):
                self.planner.delete(action)
            elif isinstance(action, WriteCommerceStatus | WriteCommerceAssignee):
                commerce_etag = self.commerce.write(action, commerce_etag or action.if_match)
        return status

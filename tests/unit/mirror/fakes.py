"""In-memory Planner and Commerce with ETags (stale If-Match -> the product's typed 412 errors),
for the mirror's glue tests. Only what shared/mirror calls."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from shared.commerce.errors import BadRequest as CommerceBadRequest
from shared.commerce.errors import NotFound as CommerceNotFound
from shared.commerce.errors import PreconditionFailed as CommercePreconditionFailed
from shared.commerce.mapping import UNSET
from shared.domain.commerce import CommerceOrg, Store, StoreAssignment, Worker
from shared.domain.planner import PlannerBucket, PlannerPlan, PlannerTask, PlannerTaskDetails
from shared.domain.tasks import StoreTask, TaskDefinition, TaskList, TaskStatus
from shared.domain.teams import Identity
from shared.graph.errors import NotFound, PlannerLimitExceeded, PreconditionFailed

_n = itertools.count(1)


def etag() -> str:
    return f'W/"{next(_n):08d}"'


class FakePlanner:
    def __init__(self) -> None:
        self.plans: dict[str, PlannerPlan] = {}
        self.buckets: dict[str, PlannerBucket] = {}
        self.tasks: dict[str, PlannerTask] = {}
        self.details: dict[str, PlannerTaskDetails] = {}
        self.completed_by: dict[str, str | None] = {}
        self.limit_on_create = False
        self.stale_next_patch = 0  # answer 412 to the next N task PATCHes (someone else wrote)
        self.lose_next_create_response = False  # commit the create, then fail as a lost response
        self.refuse_next_create = False  # fail before committing (connection refused)
        self.calls: list[str] = []

    # plans and buckets
    async def list_plans(self, group_id: str) -> list[PlannerPlan]:
        return [p for p in self.plans.values() if p.group_id == group_id]

    async def create_plan(self, group_id: str, title: str) -> PlannerPlan:
        plan = PlannerPlan(plan_id=f"plan-{group_id}", title=title, group_id=group_id, etag=etag())
        self.plans[plan.plan_id] = plan
        return plan

    async def list_buckets(self, plan_id: str) -> list[PlannerBucket]:
        return [b for b in self.buckets.values() if b.plan_id == plan_id]

    async def create_bucket(self, plan_id: str, name: str) -> PlannerBucket:
        bucket = PlannerBucket(bucket_id=f"b{next(_n)}", plan_id=plan_id, name=name, etag=etag())
        self.buckets[bucket.bucket_id] = bucket
        return bucket

    async def resolve_upns(self, upns: Any) -> dict[str, Identity]:
        return {u: Identity(user_id=f"user-{u.split('@')[0]}", upn=u) for u in upns}

    # tasks
    async def create_task(self, plan_id: str, fields: Any) -> PlannerTask:
        self.calls.append("create")
        if self.limit_on_create:
            raise PlannerLimitExceeded("too many tasks", status=403, code="MaximumTasksInProject")
        if self.refuse_next_create:
            self.refuse_next_create = False
            raise ConnectionError("connection refused")
        task = PlannerTask(
            task_id=f"t{next(_n)}", plan_id=plan_id, title=fields.title, bucket_id=fields.bucket_id,
            percent_complete=fields.percent_complete or 0, due=fields.due, assignee_ids=fields.assign,
            created=datetime.now(UTC), etag=etag(),
        )  # fmt: skip
        self.tasks[task.task_id] = task
        self.details[task.task_id] = PlannerTaskDetails(task_id=task.task_id, etag=etag())
        if self.lose_next_create_response:
            self.lose_next_create_response = False
            raise TimeoutError("the create's response was lost (Planner committed it)")
        return task

    async def list_tasks(self, plan_id: str) -> list[PlannerTask]:
        self.calls.append("list_tasks")
        if plan_id not in self.plans:
            raise NotFound("no such plan", status=404)
        return [t for t in self.tasks.values() if t.plan_id == plan_id]

    async def get_task(self, task_id: str, *, version: str = "v1.0") -> PlannerTask:
        if task_id not in self.tasks:
            raise NotFound("gone", status=404)
        return self.tasks[task_id]

    async def get_task_details(self, task_id: str) -> PlannerTaskDetails:
        return self.details[task_id]

    async def update_task_details(self, ref: PlannerTaskDetails, fields: Any) -> PlannerTaskDetails:
        self.calls.append("details")
        have = self.details[ref.task_id]
        if ref.etag != have.etag:
            raise PreconditionFailed("stale", status=412)
        self.details[ref.task_id] = have.model_copy(
            update={"description": fields.description, "etag": etag()}
        )
        self.tasks[ref.task_id] = self.tasks[ref.task_id].model_copy(update={"etag": etag()})
        return self.details[ref.task_id]

    async def update_task_fields(
        self, task_id: str, tag: str, fields: Any, *, clear_due: bool = False
    ) -> PlannerTask:
        self.calls.append("patch")
        if task_id not in self.tasks:
            raise NotFound("gone", status=404)
        if self.stale_next_patch:
            self.stale_next_patch -= 1
            raise PreconditionFailed("stale", status=412)
        task = self.tasks[task_id]
        if tag != task.etag:
            raise PreconditionFailed("stale", status=412)
        update: dict[str, Any] = {"etag": etag()}
        for name in ("title", "bucket_id", "percent_complete", "due"):
            if getattr(fields, name) is not None:
                update[name] = getattr(fields, name)
        if clear_due:
            update["due"] = None
        update["assignee_ids"] = (task.assignee_ids | fields.assign) - fields.unassign
        self.tasks[task_id] = task.model_copy(update=update)
        return self.tasks[task_id]

    async def delete_task(self, task_id: str, tag: str) -> None:
        self.calls.append("delete")
        if task_id not in self.tasks:
            raise NotFound("gone", status=404)
        del self.tasks[task_id]

    async def read_task_bundle(self, task_id: str, plan_id: str | None = None) -> Any:
        if task_id not in self.tasks:
            return None
        task = self.tasks[task_id]
        return (
            task,
            self.completed_by.get(task_id),
            self.details[task_id],
            await self.list_buckets(task.plan_id),
        )

    # a person in Teams
    def act(self, task_id: str, user: str | None = None, **changes: Any) -> None:
        task = self.tasks[task_id]
        if changes.get("percent_complete") == 100:
            changes["completed"] = datetime.now(UTC)
            self.completed_by[task_id] = user
        self.tasks[task_id] = task.model_copy(update={**changes, "etag": etag()})


class FakeCommerce:
    def __init__(self, tasks: list[StoreTask]) -> None:
        self.rows = {t.key: t.model_copy(update={"etag": etag()}) for t in tasks}
        self.lists = [
            TaskList(
                id="TL-7",
                name="Holiday reset",
                tasks=(TaskDefinition(task_list="TL-7", id="1", name="Build"),),
            )
        ]
        self.writes: list[dict[str, Any]] = []
        self.creates = 0
        self.die_after_next_create = False

    async def store_task(self, task_list: str, task: str, store: str) -> StoreTask:
        key = f"{task_list}/{task}@{store}"
        if key not in self.rows:
            raise CommerceNotFound("no such task", status=404)
        return self.rows[key]

    async def store_tasks(self, *, task_list: str | None = None, **_: Any) -> list[StoreTask]:
        return [t for t in self.rows.values() if task_list in (None, t.task_list)]

    async def update_store_task(self, task: StoreTask, *, force: bool = False, **changes: Any) -> StoreTask:
        have = self.rows[task.key]
        if not force and task.etag != have.etag:
            raise CommercePreconditionFailed("stale", status=412)
        update = {k: v for k, v in changes.items() if v is not UNSET}
        self.writes.append(update)
        self.rows[task.key] = have.model_copy(
            update={**update, "etag": etag(), "modified_at": datetime.now(UTC)}
        )
        return self.rows[task.key]

    async def find_store_task(self, task_list: str, task: str, store: str) -> StoreTask | None:
        return self.rows.get(f"{task_list}/{task}@{store}")

    async def create_store_task(self, task: StoreTask) -> StoreTask:
        """An insert (a second create of a key fails); `die_after_next_create`: the row is
        committed, then the process dies before the caller records anything."""
        if task.key in self.rows:
            raise CommerceBadRequest(
                "Cannot create a record in CTSTaskEntity. The record already exists.", status=400
            )
        self.rows[task.key] = task.model_copy(update={"etag": etag(), "modified_at": datetime.now(UTC)})
        self.creates += 1
        if self.die_after_next_create:
            self.die_after_next_create = False
            raise SystemExit("the host died right after Commerce committed the create")
        return self.rows[task.key]

    async def worker_of_entra_user(self, user_id: str) -> str | None:
        return None

    def edit(self, key: str, **changes: Any) -> None:
        self.rows[key] = self.rows[key].model_copy(
            update={**changes, "etag": etag(), "modified_at": datetime.now(UTC)}
        )

    async def task_lists(self, ids: Any = None) -> list[TaskList]:
        return self.lists

    async def read_org(self, *, store: str | None = None, region: str | None = None) -> CommerceOrg:
        return CommerceOrg(
            stores=(Store(number="0042", name="Seattle", time_zone="Pacific Standard Time"),),
            workers=(Worker(personnel_number="000322", name="Ben", upn="ben@contoso.example"),),
            assignments=(StoreAssignment(personnel_number="000322", store="0042"),),
        )


def store_task(task: str = "1", status: TaskStatus = TaskStatus.NOT_STARTED) -> StoreTask:
    from datetime import date

    return StoreTask(task_list="TL-7", task=task, store="0042", name="Build", status=status,
                     target_date=date(2030, 3, 10), modified_at=datetime(2030, 1, 1, tzinfo=UTC))  # fmt: skip

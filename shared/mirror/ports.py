"""The task mirror's ports: what it needs of Commerce and of Graph, as Protocols. The composition
root (functions/root.py) passes `CommerceClient` and `shared.graph.Gateway`, which satisfy them
structurally; tests pass their own (tests/unit/mirror/fakes.py). The state store is passed as the
concrete `StateStore` (shared/state, itself a gateway).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

from shared.commerce.mapping import UNSET, Unset
from shared.domain.commerce import CommerceOrg
from shared.domain.planner import (
    PlannerBucket,
    PlannerPlan,
    PlannerSchedule,
    PlannerTask,
    PlannerTaskDetails,
    TaskDetailsFields,
    TaskFields,
)
from shared.domain.tasks import StoreTask, TaskList, TaskStatus
from shared.domain.todo import TodoFields, TodoList, TodoTask
from shared.drift.subscriptions import SubscriptionGateway
from shared.sync.team_pass import IdentityResolver

if TYPE_CHECKING:
    from shared.commerce.client import CommerceClient
    from shared.commerce.scope import CommerceScopeReader
    from shared.graph import Gateway


class StoreTaskReader(Protocol):
    """The store tasks Commerce has (intake and the task reconciliation): `CommerceClient`, and
    `CommerceScopeReader`, which the event intake holds."""

    async def store_tasks(
        self, *, task_list: str | None = None, task: str | None = None, store: str | None = None
    ) -> list[StoreTask]: ...


class MirrorCommerce(StoreTaskReader, Protocol):
    """Commerce as the mirror pass reads and writes it (`CommerceClient`)."""

    async def store_task(
        self, task_list: str, task: str, store: str, legal_entity: str | None = None
    ) -> StoreTask: ...

    async def task_lists(self, ids: Sequence[str] | None = None) -> list[TaskList]: ...

    async def read_org(self, *, store: str | None = None, region: str | None = None) -> CommerceOrg: ...

    async def update_store_task(
        self,
        task: StoreTask,
        *,
        status: TaskStatus | None = None,
        completed_by: str | Unset | None = UNSET,
        completed_at: datetime | date | Unset | None = UNSET,
        assigned_to: str | Unset | None = UNSET,
        force: bool = False,
    ) -> StoreTask: ...


class PlanBuckets(Protocol):
    """A plan's buckets (`shared.mirror.executor.Buckets` creates a missing one)."""

    async def list_buckets(self, plan_id: str) -> list[PlannerBucket]: ...

    async def create_bucket(self, plan_id: str, name: str) -> PlannerBucket: ...


class PlannerGateway(PlanBuckets, IdentityResolver, Protocol):
    """Planner as the mirror pass reads and writes it, and the Entra look-up of a store's workers."""

    async def list_plans(self, group_id: str) -> list[PlannerPlan]: ...

    async def create_plan(self, group_id: str, title: str) -> PlannerPlan: ...

    async def list_tasks(self, plan_id: str) -> list[PlannerTask]: ...

    async def read_task_bundle(
        self, task_id: str, plan_id: str | None = None
    ) -> tuple[PlannerTask, str | None, PlannerTaskDetails, list[PlannerBucket]] | None: ...

    async def get_task(self, task_id: str) -> PlannerTask: ...

    async def set_task_schedule(
        self, task_id: str, etag: str, schedule: PlannerSchedule | None
    ) -> PlannerTask: ...

    async def create_task(self, plan_id: str, fields: TaskFields) -> PlannerTask: ...

    async def update_task_fields(
        self, task_id: str, etag: str, fields: TaskFields, *, clear_due: bool = False
    ) -> PlannerTask: ...

    async def delete_task(self, task: PlannerTask | str, etag: str | None = None) -> None: ...

    async def get_task_details(self, task_id: str) -> PlannerTaskDetails: ...

    async def update_task_details(
        self, details: PlannerTaskDetails, fields: TaskDetailsFields
    ) -> PlannerTaskDetails: ...


class TodoGateway(SubscriptionGateway, Protocol):
    """The workers' To Do copies (`tasks.todo_mode`), and the subscription a new list gets."""

    async def ensure_todo_list(self, user_id: str, name: str) -> TodoList: ...

    async def list_todo_tasks(self, user_id: str, list_id: str) -> list[TodoTask]: ...

    async def get_todo_task(self, user_id: str, list_id: str, task_id: str) -> TodoTask | None: ...

    async def create_todo_task(self, user_id: str, list_id: str, fields: TodoFields) -> TodoTask: ...

    async def update_todo_task(
        self, user_id: str, list_id: str, task_id: str, fields: TodoFields
    ) -> TodoTask: ...

    async def delete_todo_task(self, user_id: str, list_id: str, task_id: str) -> None: ...


class MirrorGateway(PlannerGateway, TodoGateway, Protocol):
    """Everything the mirror pass asks of Graph (`shared.graph.Gateway`)."""


if TYPE_CHECKING:  # mypy proves here that the production clients satisfy the ports

    def _production_clients_fit(
        client: CommerceClient, reader: CommerceScopeReader, gateway: Gateway
    ) -> tuple[MirrorCommerce, StoreTaskReader, MirrorGateway]:
        return client, reader, gateway

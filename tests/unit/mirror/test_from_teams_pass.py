"""The first pass of a task made in Teams (shared/mirror/from_teams.py) with an in-memory Planner
and Commerce and a real SQLite state store: one Commerce task per Planner task whatever is
repeated or interrupted; declined tasks stay Teams-only; then the ordinary mirror takes over."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.domain.commerce import CommerceOrg, Store, StoreAssignment, StoreRole, Worker
from shared.domain.planner import PlannerTask, PlannerTaskDetails, TeamsPublication
from shared.domain.tasks import TaskOrigin, TaskStatus
from shared.mirror import mirror_pass
from shared.mirror.from_teams import INTAKE, record_candidate
from shared.mirror.pairs import get_pair
from shared.settings import Settings, TaskSettings
from shared.state import StateStore
from shared.tasks.origin import teams_pair_key
from tests.unit.mirror.fakes import FakeCommerce, FakePlanner, etag

PLAN = "plan-team-42"


class StoreCommerce(FakeCommerce):
    """Store 0042 with its manager Ana (000321) and worker Ben (000322)."""

    async def read_org(self, *, store: str | None = None, region: str | None = None) -> CommerceOrg:
        return CommerceOrg(
            stores=(Store(number="0042", name="Seattle", time_zone="Pacific Standard Time"),),
            workers=(
                Worker(personnel_number="000321", name="Ana", upn="ana@contoso.example"),
                Worker(personnel_number="000322", name="Ben", upn="ben@contoso.example"),
            ),
            assignments=(
                StoreAssignment(personnel_number="000321", store="0042", role=StoreRole.MANAGER),
                StoreAssignment(personnel_number="000322", store="0042"),
            ),
        )


def settings() -> Settings:
    return Settings(tasks=TaskSettings(from_teams="all"))  # type: ignore[arg-type]


def made_in_teams(planner: FakePlanner, task_id: str, *, by: str | None, published: bool = False) -> str:
    planner.plans.setdefault(PLAN, planner.plans.get(PLAN) or _plan())
    planner.tasks[task_id] = PlannerTask(
        task_id=task_id, plan_id=PLAN, title="Fix the back door", created_by=by, etag=etag(),
        due=datetime(2030, 3, 10, 20, tzinfo=UTC),
        publication=TeamsPublication(publication_id="pub-1", publication_name="Spring") if published
        else None,
    )  # fmt: skip
    planner.details[task_id] = PlannerTaskDetails(
        task_id=task_id, description="call the locksmith", etag=etag()
    )
    return teams_pair_key(task_id, "0042")


def _plan() -> Any:
    from shared.domain.planner import PlannerPlan

    return PlannerPlan(plan_id=PLAN, title="Store tasks", group_id="team-42")


async def run(key: str, commerce: FakeCommerce, planner: FakePlanner, state: StateStore) -> str:
    return (
        await mirror_pass(key, commerce=commerce, gateway=planner, state=state, settings=settings())
    ).outcome


async def test_a_managers_task_becomes_one_commerce_task_and_a_repeated_pass_creates_no_second(
    state: StateStore,
) -> None:
    commerce, planner = StoreCommerce([]), FakePlanner()
    key = made_in_teams(planner, "pt-1", by="user-ana")
    await record_candidate(state, key, "pt-1", PLAN, "0042")
    assert await run(key, commerce, planner, state) == "in_sync"
    row = commerce.rows[key]
    assert (row.origin, row.created_by, row.planner_task_id, row.name) == (
        TaskOrigin.TEAMS_ADHOC,
        "000321",
        "pt-1",
        "Fix the back door",
    )
    assert row.due_date is not None and row.due_date.isoformat() == "2030-03-10"  # the day in Seattle
    assert await run(key, commerce, planner, state) == "in_sync"
    assert commerce.creates == 1 and planner.calls == []  # nothing written to the Teams task
    # From now on the ordinary mirror: completed in Teams -> Commerce, with who.
    planner.act("pt-1", "user-ben", percent_complete=100)
    assert await run(key, commerce, planner, state) == "updated_commerce"
    assert commerce.rows[key].status is TaskStatus.COMPLETED and commerce.rows[key].completed_by == "000322"


async def test_a_crash_between_the_commerce_create_and_the_pair_record_adopts_the_task(
    state: StateStore,
) -> None:
    commerce, planner = StoreCommerce([]), FakePlanner()
    key = made_in_teams(planner, "pt-2", by=None, published=True)
    await record_candidate(state, key, "pt-2", PLAN, "0042")
    commerce.die_after_next_create = True
    with pytest.raises(SystemExit):
        await run(key, commerce, planner, state)
    assert await get_pair(state, key) is None and commerce.creates == 1
    assert await run(key, commerce, planner, state) == "in_sync"  # the retried pass
    assert commerce.creates == 1
    pair = await get_pair(state, key)
    assert pair is not None and pair.planner is not None and pair.planner.task_id == "pt-2"
    row = commerce.rows[key]
    assert (
        row.origin is TaskOrigin.TEAMS_PUBLISHED and row.publication_id == "pub-1" and row.created_by is None
    )
    assert (await state.get_value(INTAKE, key) or {})["state"] == "paired"


async def test_a_workers_task_is_declined_once_and_stays_in_teams(state: StateStore) -> None:
    commerce, planner = StoreCommerce([]), FakePlanner()
    key = made_in_teams(planner, "pt-3", by="user-ben")
    await record_candidate(state, key, "pt-3", PLAN, "0042")
    assert await run(key, commerce, planner, state) == "declined"
    assert await run(key, commerce, planner, state) == "declined"
    assert commerce.rows == {} and await get_pair(state, key) is None
    answer = await state.get_value(INTAKE, key)
    assert answer is not None and "not a manager of store 0042" in answer["reason"]


async def test_a_canceled_published_task_is_not_deleted_in_teams(state: StateStore) -> None:
    commerce, planner = StoreCommerce([]), FakePlanner()
    key = made_in_teams(planner, "pt-4", by=None, published=True)
    await record_candidate(state, key, "pt-4", PLAN, "0042")
    await run(key, commerce, planner, state)
    commerce.edit(key, status=TaskStatus.CANCELED)
    assert await run(key, commerce, planner, state) == "tombstoned"
    assert "pt-4" in planner.tasks and "delete" not in planner.calls
    pair = await get_pair(state, key)
    assert pair is not None and pair.tombstone

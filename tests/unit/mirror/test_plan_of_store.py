"""A store's task plan is created once, however many of its task pairs' passes find it missing at
the same time (Planner itself accepts two plans with one title in a group), and every pass mirrors
into the same plan."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from shared.domain.planner import PlannerPlan
from shared.mirror import context
from shared.mirror.context import plan_of_store
from shared.settings import Settings
from shared.state import StateStore

_ids = itertools.count(1)


class SlowPlanner:
    """Plans with fresh ids; every call yields to the loop, as a request to Graph does."""

    def __init__(self) -> None:
        self.plans: list[PlannerPlan] = []
        self.creates = 0

    async def list_plans(self, group_id: str) -> list[PlannerPlan]:
        await asyncio.sleep(0.01)
        return [p for p in self.plans if p.group_id == group_id]

    async def create_plan(self, group_id: str, title: str) -> PlannerPlan:
        self.creates += 1
        await asyncio.sleep(0.05)
        plan = PlannerPlan(plan_id=f"p{next(_ids):04d}", title=title, group_id=group_id, etag='W/"1"')
        self.plans.append(plan)
        return plan


async def test_concurrent_first_passes_for_one_store_create_one_plan(
    state: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(context, "PLAN_POLL_SECONDS", 0.01)
    planner = SlowPlanner()
    got = await asyncio.gather(*(plan_of_store("0042", state, planner, Settings()) for _ in range(8)))  # type: ignore[arg-type]
    assert planner.creates == 1 and len(set(got)) == 1 and got[0] == planner.plans[0].plan_id
    assert (await state.get_value("plan", "0042")) == {"team_id": "team-42", "plan_id": got[0]}


async def test_of_two_plans_with_the_title_every_pass_picks_the_same_one(state: StateStore) -> None:
    planner = SlowPlanner()
    title = Settings().provisioning.plan_title
    planner.plans = [
        PlannerPlan(plan_id=i, title=title, group_id="team-42", etag='W/"1"') for i in ("zz9", "aa1")
    ]
    assert await plan_of_store("0042", state, planner, Settings()) == "aa1"  # type: ignore[arg-type]
    assert planner.creates == 0


async def test_a_lease_left_by_a_crashed_pass_expires_and_the_plan_is_made(
    state: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    monkeypatch.setattr(context, "PLAN_POLL_SECONDS", 0.01)
    monkeypatch.setattr(context, "PLAN_LEASE_TTL", timedelta(milliseconds=200))
    assert await state.acquire_lease("plan:0042", "crashed", timedelta(milliseconds=100))
    planner = SlowPlanner()
    plan = await plan_of_store("0042", state, planner, Settings())  # type: ignore[arg-type]
    assert planner.creates == 1 and plan == planner.plans[0].plan_id

"""Planner through the gateway: ETags, 412 on a stale ETag, limits as typed errors, batched reads."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.planner import ChecklistItem, TaskDetailsFields, TaskFields
from shared.graph import Gateway, PlannerLimitExceeded, PreconditionFailed
from tests.contract.graph.conftest import route_counts


async def _plan(gateway: Gateway, people: list[dict[str, Any]], name: str) -> str:
    team_id = await gateway.create_team(display_name=name, owner_id=people[0]["id"])
    return (await gateway.create_plan(team_id, "Store tasks")).plan_id


async def test_task_update_with_a_stale_etag_is_precondition_failed(
    gateway: Gateway, people: list[dict[str, Any]]
) -> None:
    plan_id = await _plan(gateway, people, "Store 0101")
    bucket = await gateway.create_bucket(plan_id, "To do")
    task = await gateway.create_task(
        plan_id,
        TaskFields(title="Count stock", bucket_id=bucket.bucket_id, assign=frozenset({people[1]["id"]})),
    )
    assert task.etag and task.assignee_ids == {people[1]["id"]}
    updated = await gateway.update_task(task, None, TaskFields(percent_complete=50))
    assert updated.percent_complete == 50 and updated.etag != task.etag
    with pytest.raises(PreconditionFailed) as caught:
        await gateway.update_task(task, None, TaskFields(title="stale write"))
    assert caught.value.status == 412
    with pytest.raises(PreconditionFailed):
        await gateway.delete_task(task)
    await gateway.delete_task(updated)
    assert await gateway.list_tasks(plan_id) == []
    assert [b.name for b in await gateway.list_buckets(plan_id)] == ["To do"]


async def test_task_details_carry_their_own_etag(gateway: Gateway, people: list[dict[str, Any]]) -> None:
    plan_id = await _plan(gateway, people, "Store 0102")
    task = await gateway.create_task(plan_id, TaskFields(title="Planogram"))
    details = await gateway.get_task_details(task.task_id)
    changed = await gateway.update_task_details(
        details,
        TaskDetailsFields(description="Aisle 4", checklist=(ChecklistItem(item_id="a1", title="Photo"),)),
    )
    assert changed.description == "Aisle 4" and [c.title for c in changed.checklist] == ["Photo"]
    with pytest.raises(PreconditionFailed):
        await gateway.update_task_details(details, TaskDetailsFields(description="stale"))


async def test_planner_limit_is_a_typed_error(gateway: Gateway, people: list[dict[str, Any]]) -> None:
    plan_id = await _plan(gateway, people, "Store 0103")
    too_many = frozenset(p["id"] for p in people[1:22])  # Planner allows 20 assignees per task
    with pytest.raises(PlannerLimitExceeded) as caught:
        await gateway.create_task(plan_id, TaskFields(title="Everyone", assign=too_many))
    assert caught.value.status == 403 and caught.value.code == "MaximumAssigneesInTasks"


async def test_tasks_of_many_plans_are_read_in_one_batch(
    gateway: Gateway, sandbox: Any, people: list[dict[str, Any]]
) -> None:
    plans = [await _plan(gateway, people, f"Store 02{i:02d}") for i in range(3)]
    for plan_id in plans:
        await gateway.create_task(plan_id, TaskFields(title=f"task of {plan_id}"))
    sandbox.reset_counters()
    tasks = await gateway.list_tasks_of_plans(plans)
    assert {p: [t.title for t in ts] for p, ts in tasks.items()} == {p: [f"task of {p}"] for p in plans}
    assert route_counts(sandbox.counters())["POST /$batch"] == 1
    assert all(t.etag for ts in tasks.values() for t in ts)

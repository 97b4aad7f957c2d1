"""Eventual consistency: a team created moments ago may 404; the gateway retries those calls."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.domain.execution import OutcomeStatus
from shared.domain.plan import AddMembers, CreateChannel, CreateTeam, Plan
from shared.domain.teams import TeamKey
from shared.graph import Gateway, execute_plan


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from local.graph.testing import running_graph_sandbox

    db = Path(tmp_path_factory.mktemp("graph-lag")) / "graph.sqlite"
    # The team becomes visible 1 s after creation; its async operation succeeds after 0.2 s.
    with running_graph_sandbox(db, scale=1.0, async_delay=0.2, lag=1.0, throttle=False) as graph:
        yield graph


async def test_writes_right_after_creation_survive_replication_lag(
    gateway: Gateway, sandbox: Any, people: list[dict[str, Any]]
) -> None:
    key = TeamKey.store("0700")
    plan = Plan(
        operations=(
            CreateTeam(
                key=key,
                reason="new store",
                display_name="Store 0700",
                mail_nickname="store-0700",
                first_owner=people[0]["id"],
            ),
            AddMembers(key=key, reason="workers", user_ids=tuple(p["id"] for p in people[1:5])),
            CreateChannel(key=key, reason="template", name="Deliveries"),
        )
    )
    result = await execute_plan(plan, gateway)
    assert [o.status for o in result.outcomes] == [OutcomeStatus.DONE] * 3, result.outcomes
    counters = sandbox.counters()["requests"]
    assert int(counters["POST /teams/{id}/members/add"].get("404", 0)) >= 1  # the lag was really hit
    await asyncio.sleep(1.1)  # new members are listed only after the lag, as in Graph
    team = await gateway.get_team_state(result.team_ids[str(key)])
    assert team is not None and len(team.members) == 5

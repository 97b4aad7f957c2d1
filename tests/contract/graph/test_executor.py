"""execute_plan against the sandbox: outcomes, problems, and the Graph request budget."""

from __future__ import annotations

import math
from typing import Any

from shared.domain.execution import OutcomeStatus
from shared.domain.plan import (
    AddMembers,
    ArchiveTeam,
    CreateChannel,
    CreatePlan,
    CreateTeam,
    Plan,
    ProblemKind,
    RemoveMember,
    SetRole,
    UpdateTeam,
)
from shared.domain.teams import MemberRole, TeamKey
from shared.graph import Gateway, execute_plan
from tests.contract.graph.conftest import route_counts


def _create(key: TeamKey, owner: str, name: str) -> CreateTeam:
    return CreateTeam(
        key=key,
        reason="store has a manager",
        display_name=name,
        mail_nickname=f"store-{key.id}",
        first_owner=owner,
    )


async def test_450_member_store_is_provisioned_in_the_minimum_number_of_requests(
    gateway: Gateway, sandbox: Any, people: list[dict[str, Any]]
) -> None:
    key = TeamKey.store("0450")
    ids = [p["id"] for p in people[:450]]
    plan = Plan(
        operations=(
            _create(key, ids[0], "Store 0450"),
            AddMembers(key=key, reason="managers", user_ids=(ids[1],), role=MemberRole.OWNER),
            AddMembers(key=key, reason="workers", user_ids=tuple(ids[2:])),
        )
    )
    sandbox.reset_counters()
    result = await execute_plan(plan, gateway)
    counts = route_counts(sandbox.counters())

    assert result.ok, result.outcomes
    polls = counts.pop("GET /teams/{id}/operations/{opId}")
    assert counts == {"POST /teams": 1, "POST /teams/{id}/members/add": math.ceil(449 / 200)}
    assert polls >= 1 and result.requests == 1 + polls + 3
    team = await gateway.get_team_state(result.team_ids[str(key)])
    assert team is not None and len(team.members) == 450 and team.owners == {ids[0], ids[1]}


async def test_small_writes_after_creation_share_one_batch(
    gateway: Gateway, sandbox: Any, people: list[dict[str, Any]]
) -> None:
    key = TeamKey.store("0451")
    plan = Plan(
        operations=(
            _create(key, people[0]["id"], "Store 0451"),
            AddMembers(key=key, reason="workers", user_ids=(people[1]["id"], people[2]["id"])),
            CreateChannel(key=key, reason="template", name="Deliveries"),
            CreateChannel(key=key, reason="template", name="Rota"),
            CreatePlan(key=key, reason="task mirroring", title="Store tasks"),
        )
    )
    sandbox.reset_counters()
    result = await execute_plan(plan, gateway)
    counts = route_counts(sandbox.counters())
    assert result.ok, result.outcomes
    assert counts["POST /$batch"] == 1 and counts["POST /teams/{id}/members/add"] == 1
    team = await gateway.get_team_state(result.team_ids[str(key)], plan_title="Store tasks")
    assert team is not None and {"Deliveries", "Rota"} <= {c.name for c in team.channels}
    assert team.plan is not None and len(team.members) == 3


async def test_changes_to_an_existing_team_report_each_outcome(
    gateway: Gateway, people: list[dict[str, Any]]
) -> None:
    key = TeamKey.store("0452")
    team_id = await gateway.create_team(display_name="Store 0452", owner_id=people[0]["id"])
    await gateway.create_channel(team_id, "Existing")
    await gateway.add_members(
        team_id, [(people[1]["id"], MemberRole.MEMBER), (people[2]["id"], MemberRole.MEMBER)]
    )
    ghost = "00000000-0000-0000-0000-00000000beef"
    plan = Plan(
        operations=(
            UpdateTeam(key=key, reason="renamed", team_id=team_id, display_name="Store 0452 (Harbour)"),
            AddMembers(key=key, reason="hired", team_id=team_id, user_ids=(people[3]["id"], ghost)),
            SetRole(
                key=key, reason="promoted", team_id=team_id, user_id=people[1]["id"], role=MemberRole.OWNER
            ),
            SetRole(
                key=key, reason="demoted", team_id=team_id, user_id=people[0]["id"], role=MemberRole.MEMBER
            ),
            RemoveMember(key=key, reason="terminated", team_id=team_id, user_id=people[2]["id"]),
            RemoveMember(key=key, reason="left earlier", team_id=team_id, user_id=people[9]["id"]),
            CreateChannel(key=key, reason="template", name="Existing"),
        )
    )
    result = await execute_plan(plan, gateway)
    status = [o.status for o in result.outcomes]
    assert status == [
        OutcomeStatus.DONE,
        OutcomeStatus.PARTIAL,
        OutcomeStatus.DONE,
        OutcomeStatus.DONE,
        OutcomeStatus.DONE,
        OutcomeStatus.ALREADY,
        OutcomeStatus.ALREADY,
    ]
    assert [f.user_id for f in result.outcomes[1].member_failures] == [ghost]
    assert [p.kind for p in result.problems] == [ProblemKind.GRAPH_ERROR]
    members = {m.user_id: m.role for m in await gateway.list_members(team_id)}
    assert members == {
        people[0]["id"]: MemberRole.MEMBER,
        people[1]["id"]: MemberRole.OWNER,
        people[3]["id"]: MemberRole.MEMBER,
    }


async def test_failed_creation_skips_the_rest_of_that_team_only(
    gateway: Gateway, people: list[dict[str, Any]]
) -> None:
    bad, good = TeamKey.store("0453"), TeamKey.store("0454")
    ghost = "00000000-0000-0000-0000-00000000f00d"
    plan = Plan(
        operations=(
            _create(bad, ghost, "Store 0453"),
            AddMembers(key=bad, reason="workers", user_ids=(people[1]["id"],)),
            _create(good, people[0]["id"], "Store 0454"),
            ArchiveTeam(key=good, reason="store closed", team_id="44444444-4444-4444-4444-444444444444"),
        )
    )
    result = await execute_plan(plan, gateway)
    assert [o.status for o in result.outcomes] == [
        OutcomeStatus.FAILED,
        OutcomeStatus.SKIPPED,
        OutcomeStatus.DONE,
        OutcomeStatus.FAILED,
    ]
    assert result.outcomes[0].error_code and str(good) in result.team_ids and str(bad) not in result.team_ids
    assert all(p.kind is ProblemKind.GRAPH_ERROR for p in result.problems) and len(result.problems) == 2


async def test_an_owner_who_lost_the_licence_is_reported_as_no_licence_not_a_bare_graph_error(
    gateway: Gateway, sandbox: Any
) -> None:
    [bare] = sandbox.seed_users([{"userPrincipalName": "lapsed@contoso.com", "_licences": []}])
    key = TeamKey.store("0777")
    result = await execute_plan(Plan(operations=(_create(key, bare["id"], "Store 0777"),)), gateway)
    assert [o.status for o in result.outcomes] == [OutcomeStatus.FAILED]
    [problem] = result.problems
    assert problem.kind is ProblemKind.BLOCKED_NO_LICENCE and problem.store == "0777"
    assert "GetApplicableSkuCategoriesForUserFailed" in problem.detail

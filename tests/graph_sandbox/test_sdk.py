"""The real msgraph-sdk against the sandbox: URL templates and JSON shapes must match Graph's."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.headers_collection import HeadersCollection
from kiota_http.middleware.options import HeadersInspectionHandlerOption
from msgraph import GraphServiceClient
from msgraph.generated.models.aad_user_conversation_member import AadUserConversationMember
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.planner_plan import PlannerPlan
from msgraph.generated.models.planner_plan_container import PlannerPlanContainer
from msgraph.generated.models.planner_task import PlannerTask
from msgraph.generated.models.team import Team
from msgraph.generated.models.teams_async_operation_status import TeamsAsyncOperationStatus
from msgraph.generated.teams.item.members.add.add_post_request_body import AddPostRequestBody
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

from local.graph.testing import GraphSandbox

from .conftest import TEMPLATE

# msgraph-sdk warns about its own deprecated request-configuration classes.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _member(user_id: str, owner: bool = False) -> AadUserConversationMember:
    return AadUserConversationMember(
        odata_type="#microsoft.graph.aadUserConversationMember",
        roles=["owner"] if owner else [],
        additional_data={"user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{user_id}')"},
    )


async def _create_team(sdk: GraphServiceClient, name: str, owner_id: str) -> str:
    inspect = HeadersInspectionHandlerOption(inspect_response_headers=True)
    team = Team(
        display_name=name,
        members=[_member(owner_id, True)],
        additional_data={"template@odata.bind": TEMPLATE},
    )
    await sdk.teams.post(team, request_configuration=RequestConfiguration(options=[inspect]))
    location = next(iter(inspect.response_headers.get("location")))
    team_id, op_id = location.split("'")[1], location.split("'")[3]
    for _ in range(200):
        op = await sdk.teams.by_team_id(team_id).operations.by_teams_async_operation_id(op_id).get()
        assert op is not None and op.operation_type is not None
        if op.status == TeamsAsyncOperationStatus.Succeeded:
            assert op.target_resource_id == team_id
            return team_id
        await asyncio.sleep(0.01)
    raise AssertionError("team creation did not finish")


async def test_sdk_creates_a_team_polls_the_operation_and_adds_members(
    sdk: GraphServiceClient, users: list[dict[str, Any]]
) -> None:
    team_id = await _create_team(sdk, "Store SDK", users[0]["id"])
    team = await sdk.teams.by_team_id(team_id).get()
    assert team is not None and team.display_name == "Store SDK" and team.is_archived is False
    body = AddPostRequestBody(
        values=[_member(users[1]["id"]), _member("00000000-0000-0000-0000-000000000000")]
    )
    result = await sdk.teams.by_team_id(team_id).members.add.post(body)
    assert result is not None and result.value is not None
    errors = [part.additional_data.get("error") or getattr(part, "error", None) for part in result.value]
    assert errors[0] is None and errors[1] is not None
    members = await sdk.teams.by_team_id(team_id).members.get()
    assert members is not None and {m.display_name for m in members.value or []} == {"User 1", "User 2"}
    assert all(isinstance(m, AadUserConversationMember) for m in members.value or [])


async def test_sdk_sees_graph_errors_as_odata_errors(
    sdk: GraphServiceClient, users: list[dict[str, Any]]
) -> None:
    team = Team(
        display_name="No owner",
        members=[_member(users[0]["id"])],
        additional_data={"template@odata.bind": TEMPLATE},
    )
    with pytest.raises(ODataError) as raised:
        await sdk.teams.post(team)
    assert raised.value.response_status_code == 400
    assert raised.value.error is not None and raised.value.error.code == "BadRequest"


async def test_sdk_filters_users_by_employee_id(sdk: GraphServiceClient, users: list[dict[str, Any]]) -> None:
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        filter="employeeId eq '000004'", select=["id", "displayName"]
    )
    page = await sdk.users.get(request_configuration=RequestConfiguration(query_parameters=query))
    assert page is not None and [u.id for u in page.value or []] == [users[3]["id"]]
    user = await sdk.users.by_user_id("user5@contoso.com").get()
    assert user is not None and user.employee_id == "000005"


async def test_sdk_planner_round_trip_with_if_match(
    sdk: GraphServiceClient, graph: GraphSandbox, users: list[dict[str, Any]]
) -> None:
    team_id = await _create_team(sdk, "Store Plan", users[0]["id"])
    plan = await sdk.planner.plans.post(
        PlannerPlan(
            title="Tasks",
            container=PlannerPlanContainer(url=f"https://graph.microsoft.com/v1.0/groups/{team_id}"),
        )
    )
    assert plan is not None and plan.id
    task = await sdk.planner.tasks.post(PlannerTask(plan_id=plan.id, title="Count stock"))
    assert task is not None and task.id
    etag = task.additional_data["@odata.etag"]

    def if_match(value: str) -> RequestConfiguration[Any]:
        headers = HeadersCollection()
        headers.add("If-Match", value)
        return RequestConfiguration(headers=headers)

    await sdk.planner.tasks.by_planner_task_id(task.id).patch(
        PlannerTask(percent_complete=100), request_configuration=if_match(etag)
    )
    with pytest.raises(APIError) as stale:
        await sdk.planner.tasks.by_planner_task_id(task.id).patch(
            PlannerTask(title="x"), request_configuration=if_match(etag)
        )
    assert stale.value.response_status_code == 412
    tasks = await sdk.planner.plans.by_planner_plan_id(plan.id).tasks.get()
    assert tasks is not None and [t.percent_complete for t in tasks.value or []] == [100]


async def test_sdk_reads_groups_delta_with_members(
    sdk: GraphServiceClient, users: list[dict[str, Any]]
) -> None:
    from msgraph.generated.groups.delta.delta_request_builder import DeltaRequestBuilder

    team_id = await _create_team(sdk, "Store Delta", users[0]["id"])
    query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(select=["displayName", "members"])
    page = await sdk.groups.delta.get(request_configuration=RequestConfiguration(query_parameters=query))
    assert page is not None and [g.id for g in page.value or []] == [team_id]
    assert page.odata_delta_link and "$deltatoken=" in page.odata_delta_link
    assert page.value and str(page.value[0].additional_data["members@delta"][0]["id"]) == users[0]["id"]
    again = await sdk.groups.delta.with_url(page.odata_delta_link).get()
    assert again is not None and again.value == []

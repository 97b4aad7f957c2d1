"""Team membership: bulk add (members/add, 200 per call), list, remove, change role.

Permission: TeamMember.ReadWrite.All (application); TeamMember.Read.All to list.
https://learn.microsoft.com/en-us/graph/api/conversationmembers-add ("200 members per call",
207 Multi-Status with a per-user `error` on partial failure).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.domain.execution import MemberFailure
from shared.domain.ids import segment
from shared.domain.teams import Member, MemberRole
from shared.graph.client import GraphClient, sdk
from shared.graph.paging import items
from shared.graph.retry import retry_not_found
from shared.graph.teams import bind_user, member_from

MAX_ADD = 200


def _sdk_member(client: GraphClient, user_id: str, role: MemberRole) -> Any:
    from msgraph.generated.models.aad_user_conversation_member import AadUserConversationMember

    member = AadUserConversationMember(roles=["owner"] if role is MemberRole.OWNER else [])
    member.odata_type = "#microsoft.graph.aadUserConversationMember"
    member.additional_data = {"user@odata.bind": bind_user(client, user_id)}
    return member


async def add_members(
    client: GraphClient,
    team_id: str,
    people: Sequence[tuple[str, MemberRole]],
    *,
    new_team: bool = False,
    replication_delay: float = 10.0,
    replication_attempts: int = 4,
) -> list[MemberFailure]:
    """Add people in chunks of 200; returns the users Graph refused (the 207 `error`s).

    `new_team`: the team was created moments ago, so a 404 on the team is replication lag
    and is retried (https://learn.microsoft.com/graph/api/team-post, example 4)."""
    from msgraph.generated.teams.item.members.add.add_post_request_body import AddPostRequestBody

    failures: list[MemberFailure] = []
    builder = client.service.teams.by_team_id(team_id).members.add
    for start in range(0, len(people), MAX_ADD):
        part = people[start : start + MAX_ADD]
        body = AddPostRequestBody(values=[_sdk_member(client, uid, role) for uid, role in part])

        async def send(body: Any = body) -> Any:
            return await sdk(builder.post(body))

        response = await (
            retry_not_found(send, attempts=replication_attempts, delay=replication_delay)
            if new_team
            else send()
        )
        failures.extend(_failures(response, {uid for uid, _ in part}))
    return failures


def _failures(response: Any, sent: set[str]) -> list[MemberFailure]:
    out: list[MemberFailure] = []
    for result in getattr(response, "value", None) or []:
        error = getattr(result, "error", None)
        user_id = getattr(result, "user_id", None) or (getattr(result, "additional_data", {}) or {}).get(
            "userId"
        )
        if error is not None and user_id:
            out.append(
                MemberFailure(
                    user_id=str(user_id),
                    code=str(getattr(error, "code", None) or "Error"),
                    message=str(getattr(error, "message", None) or ""),
                )
            )
    return out


async def list_members(client: GraphClient, team_id: str) -> list[Member]:
    """Every member with role and membership id (follows @odata.nextLink)."""
    return [member_from(m) for m in await items(client, f"teams/{segment(team_id)}/members")]


async def remove_member(client: GraphClient, team_id: str, membership_id: str) -> None:
    """DELETE /teams/{id}/members/{membership-id}. Graph refuses to remove the last owner."""
    builder = client.service.teams.by_team_id(team_id).members.by_conversation_member_id(membership_id)
    await sdk(builder.delete())


async def set_role(client: GraphClient, team_id: str, membership_id: str, role: MemberRole) -> None:
    """PATCH the membership's roles: ["owner"] or [] (member)."""
    from msgraph.generated.models.aad_user_conversation_member import AadUserConversationMember

    body = AadUserConversationMember(roles=["owner"] if role is MemberRole.OWNER else [])
    body.odata_type = "#microsoft.graph.aadUserConversationMember"
    builder = client.service.teams.by_team_id(team_id).members.by_conversation_member_id(membership_id)
    await sdk(builder.patch(body))

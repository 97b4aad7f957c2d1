"""Teams: create with the first owner, poll async operations, read state, update, archive.

Permissions (application, least privilege): Team.Create (create), Team.ReadBasic.All (read),
TeamSettings.ReadWrite.All (update, archive, unarchive), Group.Read.All (find by nickname).
https://learn.microsoft.com/graph/api/team-post, .../team-archive, .../team-update
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any

from shared.domain.ids import segment
from shared.domain.planner import PlannerPlan
from shared.domain.teams import Channel, Member, MemberRole, PlanRef, Team, Visibility
from shared.graph.batch import BatchRequest, run_batch
from shared.graph.client import GraphClient, sdk
from shared.graph.coalesce import IN_LIMIT
from shared.graph.errors import GraphError, from_status, parse_retry_after
from shared.graph.paging import items
from shared.graph.retry import Sleep
from shared.graph.users import odata_quote

_TEAM_ID = re.compile(r"teams\('([^']+)'\)")
_GROUP_SELECT = "id,displayName,description,mailNickname,visibility,resourceProvisioningOptions"


@dataclass(frozen=True)
class PollPolicy:
    """How to poll a teamsAsyncOperation. Graph asks for > 30 s between checks in production
    (https://learn.microsoft.com/en-us/graph/api/resources/teamsasyncoperation); the sandboxes
    complete in well under a second, so `fast()` is used with static-token auth."""

    first_delay: float = 5.0
    interval: float = 30.0
    timeout: float = 900.0
    # A just-created team may 404 for a while: "retry ... three times, with a 10 second delay"
    # (https://learn.microsoft.com/graph/api/team-post, example 4).
    replication_delay: float = 10.0
    replication_attempts: int = 4

    @classmethod
    def fast(cls) -> PollPolicy:
        return cls(
            first_delay=0.1, interval=0.25, timeout=60.0, replication_delay=0.3, replication_attempts=5
        )


def bind_user(client: GraphClient, user_id: str) -> str:
    return f"{client.base_url}/users('{segment(user_id)}')"


def member_body(client: GraphClient, user_id: str, role: MemberRole) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.aadUserConversationMember",
        "roles": ["owner"] if role is MemberRole.OWNER else [],
        "user@odata.bind": bind_user(client, user_id),
    }


async def create_team(
    client: GraphClient,
    *,
    display_name: str,
    description: str,
    visibility: Visibility,
    owner_id: str,
    poll: PollPolicy,
    sleep: Sleep = asyncio.sleep,
) -> str:
    """POST /teams with the standard template and its first owner (app-only creation requires
    one), then poll the operation until it succeeds. Returns the team id."""
    body = {
        "template@odata.bind": f"{client.base_url}/teamsTemplates('standard')",
        "displayName": display_name,
        "description": description,
        "visibility": visibility.value,
        "members": [member_body(client, owner_id, MemberRole.OWNER)],
    }
    _, response = await client.call("POST", "teams", body)
    team_id = _team_id_from(
        response.headers.get("Content-Location") or response.headers.get("Location") or ""
    )
    location = response.headers.get("Location")
    if location:
        operation = await wait_operation(
            client,
            location,
            poll,
            sleep=sleep,
            first_delay=parse_retry_after(response.headers.get("Retry-After")),
        )
        team_id = team_id or str(operation.get("targetResourceId") or "")
    if not team_id:
        raise GraphError("POST /teams answered without a team id", status=response.status_code)
    return team_id


async def wait_operation(
    client: GraphClient,
    location: str,
    poll: PollPolicy,
    *,
    sleep: Sleep = asyncio.sleep,
    first_delay: float | None = None,
) -> dict[str, Any]:
    """Poll a teamsAsyncOperation (`Location` of a 202) until succeeded; raise if it failed."""
    deadline = time.monotonic() + poll.timeout
    delay = poll.first_delay if first_delay is None else first_delay
    while True:
        await sleep(delay)
        operation, response = await client.call("GET", location)
        status = str((operation or {}).get("status", "")).lower()
        if status == "succeeded":
            return dict(operation)
        if status == "failed":
            error = operation.get("error") or {}
            raise from_status(
                409 if error.get("code") == "Conflict" else 400,
                error.get("code"),
                error.get("message") or f"operation {operation.get('operationType')} failed",
            )
        if time.monotonic() > deadline:
            raise GraphError(
                f"operation still {status or 'pending'} after {poll.timeout:.0f} s",
                status=response.status_code,
                code="OperationTimeout",
            )
        delay = parse_retry_after(response.headers.get("Retry-After")) or poll.interval


def _team_id_from(location: str) -> str:
    found = _TEAM_ID.search(location)
    return found.group(1) if found else ""


def team_from(data: dict[str, Any], **extra: Any) -> Team:
    """A team from a /teams/{id} or /groups/{id} representation."""
    visibility = str(data.get("visibility") or "private").lower()
    return Team(
        team_id=str(data["id"]),
        display_name=str(data.get("displayName") or ""),
        description=data.get("description"),
        mail_nickname=data.get("mailNickname"),
        visibility=Visibility(visibility) if visibility in ("private", "public") else Visibility.PRIVATE,
        archived=bool(data.get("isArchived", False)),
        **extra,
    )


def member_from(data: dict[str, Any]) -> Member:
    roles = [str(r).lower() for r in data.get("roles") or []]
    return Member(
        user_id=str(data.get("userId") or ""),
        role=MemberRole.OWNER if "owner" in roles else MemberRole.MEMBER,
        upn=data.get("email"),
        membership_id=data.get("id"),
    )


def channel_from(data: dict[str, Any]) -> Channel:
    return Channel(
        name=str(data.get("displayName") or ""),
        id=data.get("id"),
        membership_type=str(data.get("membershipType") or "standard"),
    )


def plan_from(data: dict[str, Any]) -> PlannerPlan:
    container = data.get("container") or {}
    return PlannerPlan(
        plan_id=str(data["id"]),
        title=str(data.get("title") or ""),
        group_id=container.get("containerId") or data.get("owner"),
        etag=data.get("@odata.etag"),
    )


async def get_team(client: GraphClient, team_id: str) -> Team | None:
    """The team itself (no members); None when it does not exist."""
    data = await client.get_or_none(f"teams/{segment(team_id)}")
    return None if data is None else team_from(data)


async def get_team_state(
    client: GraphClient, team_id: str, plan_title: str | None = None, *, with_tags: bool = False
) -> Team | None:
    """Team + members with roles + channels + archived + nickname + plan (+ tags), in one $batch
    call (more only when members span several pages, and one for the members of the tags).
    None when the team does not exist."""
    requests = [
        BatchRequest("team", "GET", f"/teams/{segment(team_id)}"),
        BatchRequest("members", "GET", f"/teams/{segment(team_id)}/members"),
        BatchRequest("channels", "GET", f"/teams/{segment(team_id)}/channels"),
        BatchRequest("group", "GET", f"/groups/{segment(team_id)}?$select=id,mailNickname"),
        BatchRequest("plans", "GET", f"/groups/{segment(team_id)}/planner/plans"),
    ]
    if with_tags:
        requests.append(BatchRequest("tags", "GET", f"/teams/{team_id}/tags"))
    responses = await run_batch(client, requests)
    if responses["team"].status == 404:
        return None
    team = responses["team"].json()
    members = [member_from(m) for m in await items(client, responses["members"].json() or {})]
    channels = [channel_from(c) for c in (responses["channels"].json() or {}).get("value", [])]
    nickname = None
    if responses["group"].ok:
        nickname = (responses["group"].body or {}).get("mailNickname")
    plan = None
    if responses["plans"].ok:  # Planner may lag behind a brand-new group; absence is not fatal
        plans = [plan_from(p) for p in (responses["plans"].body or {}).get("value", [])]
        chosen = [p for p in plans if plan_title is None or p.title == plan_title]
        if chosen:
            plan = PlanRef(plan_id=chosen[0].plan_id, title=chosen[0].title)
    tags = None
    if with_tags and responses["tags"].ok:
        from shared.graph.tags import tags_with_members

        listed = (responses["tags"].body or {}).get("value", [])
        tags = tuple(await tags_with_members(client, team_id, listed))
    return team_from(
        {**team, "mailNickname": nickname or team.get("mailNickname")},
        members=tuple(members),
        channels=tuple(channels),
        plan=plan,
    ).model_copy(update={"tags": tags})


async def find_teams(
    client: GraphClient, *, mail_nickname: str | None = None, display_name: str | None = None
) -> list[Team]:
    """Teams whose group has this nickname or display name (adoption check before creating)."""
    clauses = []
    if mail_nickname:
        clauses.append(f"mailNickname%20eq%20{odata_quote(mail_nickname)}")
    if display_name:
        clauses.append(f"displayName%20eq%20{odata_quote(display_name)}")
    if not clauses:
        raise ValueError("find_teams needs mail_nickname or display_name")
    url = f"groups?$filter={'%20or%20'.join(clauses)}&$select={_GROUP_SELECT}"
    found: list[Team] = []
    for group in await items(client, url):
        options = group.get("resourceProvisioningOptions")
        if options is None or "Team" in options:
            found.append(team_from(group))
    return found


async def find_teams_named(client: GraphClient, names: list[str]) -> dict[str, list[Team]]:
    """name -> the teams whose group has that display name (compared case-insensitively, as the
    directory does; the caller compares exactly), for many names: `displayName in (...)`, 15
    names per request, in `$batch` (shared/graph/coalesce.py). Every name asked for is a key."""
    wanted = list(dict.fromkeys(names))
    parts = [wanted[i : i + IN_LIMIT] for i in range(0, len(wanted), IN_LIMIT)]
    listed = [",".join(odata_quote(n) for n in part) for part in parts]
    requests = [
        BatchRequest(
            id=str(i), method="GET", url=f"/groups?$filter=displayName%20in%20({v})&$select={_GROUP_SELECT}"
        )
        for i, v in enumerate(listed)
    ]
    responses = await run_batch(client, requests)
    found: dict[str, list[Team]] = {n: [] for n in wanted}
    by_lower: dict[str, list[str]] = {}
    for n in wanted:
        by_lower.setdefault(n.lower(), []).append(n)
    for i in range(len(parts)):
        for group in await items(client, responses[str(i)].json()):  # and its further pages
            options = group.get("resourceProvisioningOptions")
            if options is not None and "Team" not in options:
                continue
            for n in by_lower.get(str(group.get("displayName", "")).lower(), []):
                found[n].append(team_from(group))
    return found


async def update_team(
    client: GraphClient, team_id: str, *, display_name: str | None = None, description: str | None = None
) -> None:
    """PATCH /teams/{id} through the SDK model (only the given fields)."""
    from msgraph.generated.models.team import Team as SdkTeam

    body = SdkTeam()
    if display_name is not None:
        body.display_name = display_name
    if description is not None:
        body.description = description
    await sdk(client.service.teams.by_team_id(team_id).patch(body))


async def set_archived(
    client: GraphClient,
    team_id: str,
    archived: bool,
    poll: PollPolicy,
    *,
    sleep: Sleep = asyncio.sleep,
) -> None:
    """POST /teams/{id}/archive or /unarchive (202 + teamsAsyncOperation), then poll it."""
    action = "archive" if archived else "unarchive"
    _, response = await client.call("POST", f"teams/{segment(team_id)}/{action}")
    location = response.headers.get("Location")
    if response.status_code == 202 and location:
        await wait_operation(
            client,
            location,
            poll,
            sleep=sleep,
            first_delay=parse_retry_after(response.headers.get("Retry-After")),
        )

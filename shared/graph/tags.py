"""Team tags (teamworkTag): read with their members, create, tag and untag people, delete.

Permission: TeamworkTag.ReadWrite.All (application). https://learn.microsoft.com/graph/api/resources/teamworktag
Creation takes at most 25 members (teamworktag-post); the rest are added one by one after.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.domain.teams import Tag
from shared.graph.batch import BatchRequest, run_batch
from shared.graph.client import GraphClient

MAX_AT_CREATE = 25


async def tags_with_members(
    client: GraphClient, team_id: str, tags: Sequence[dict[str, object]]
) -> list[Tag]:
    """The members of already listed tags, in one $batch call (20 tags a request)."""
    requests = [
        BatchRequest(str(i), "GET", f"/teams/{team_id}/tags/{t['id']}/members") for i, t in enumerate(tags)
    ]
    responses = await run_batch(client, requests) if requests else {}
    out = []
    for i, t in enumerate(tags):
        rows = (responses[str(i)].json() or {}).get("value", []) if responses[str(i)].ok else []
        out.append(
            Tag(
                tag_id=str(t["id"]),
                name=str(t.get("displayName") or ""),
                members={str(m["userId"]): str(m["id"]) for m in rows},
            )
        )
    return out


async def create_tag(client: GraphClient, team_id: str, name: str, user_ids: Sequence[str]) -> str:
    first, rest = list(user_ids[:MAX_AT_CREATE]), list(user_ids[MAX_AT_CREATE:])
    body = {"displayName": name, "members": [{"userId": u} for u in first]}
    data, _ = await client.call("POST", f"teams/{team_id}/tags", body)
    tag_id = str(data["id"])
    for user_id in rest:
        await add_tag_member(client, team_id, tag_id, user_id)
    return tag_id


async def add_tag_member(client: GraphClient, team_id: str, tag_id: str, user_id: str) -> None:
    await client.call("POST", f"teams/{team_id}/tags/{tag_id}/members", {"userId": user_id})


async def remove_tag_member(client: GraphClient, team_id: str, tag_id: str, member_id: str) -> None:
    await client.call("DELETE", f"teams/{team_id}/tags/{tag_id}/members/{member_id}")


async def delete_tag(client: GraphClient, team_id: str, tag_id: str) -> None:
    await client.call("DELETE", f"teams/{team_id}/tags/{tag_id}")

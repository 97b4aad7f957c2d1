"""Team tags: https://learn.microsoft.com/graph/api/resources/teamworktag

- ``POST /teams/{id}/tags`` (teamworktag-post): displayName at most 40 characters; members
  required, at most 25 at creation; 201 with the tag (id, teamId, displayName, description,
  memberCount, tagType "standard").
- ``GET /teams/{id}/tags``, ``GET|PATCH|DELETE /teams/{id}/tags/{tagId}``
- ``GET|POST /teams/{id}/tags/{tagId}/members`` (teamworktagmember: id, userId, displayName,
  tenantId), ``DELETE /teams/{id}/tags/{tagId}/members/{memberId}``
- Limits ("Limits and specifications for Microsoft Teams", Tags): 200 tags per team, 200 team
  members per tag, 25 tags per user per team. Only members of the team can be tagged.
Error wording for the limits is the sandbox's own [unconfirmed]; status and code are Graph's 400
BadRequest for invalid input and 404 NotFound for an unknown tag.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from .core import Router, Sandbox
from .errors import GraphError
from .members import membership_id
from .teams import team_or_404
from .wire import Req, Resp, collection, entity, page_params

MAX_NAME, MAX_AT_CREATE, MAX_TAGS, MAX_MEMBERS, MAX_TAGS_PER_USER = 40, 25, 200, 200, 25


def _tag_or_404(sb: Sandbox, team_id: str, tag_id: str) -> dict[str, Any]:
    tag = sb.store.get("tag", tag_id)
    if tag is None or tag["teamId"] != team_id:
        raise GraphError(404, "NotFound", f"Tag {tag_id} not found in team {team_id}.")
    return tag


def _members(sb: Sandbox, tag_id: str) -> list[dict[str, Any]]:
    return [m for _, m in sb.store.query("tagmember", parent=tag_id)]


def _shown(sb: Sandbox, tag: dict[str, Any]) -> dict[str, Any]:
    return {**tag, "memberCount": len(_members(sb, tag["id"]))}


def _add(sb: Sandbox, team_id: str, tag: dict[str, Any], user_id: Any) -> dict[str, Any]:
    if not isinstance(user_id, str) or not user_id:
        raise GraphError(400, "BadRequest", "userId is required for a tag member.")
    member = sb.store.get("member", membership_id(team_id, user_id))
    if member is None:
        raise GraphError(400, "BadRequest", f"User {user_id} is not a member of the team.")
    current = _members(sb, tag["id"])
    if any(m["userId"] == user_id for m in current):
        raise GraphError(409, "Conflict", f"User {user_id} already has the tag.")
    if len(current) >= MAX_MEMBERS:
        raise GraphError(400, "BadRequest", f"A tag can have at most {MAX_MEMBERS} members.")
    tagged = sum(
        1
        for _, t in sb.store.query("tag", parent=team_id)
        for m in _members(sb, t["id"])
        if m["userId"] == user_id
    )
    if tagged >= MAX_TAGS_PER_USER:
        raise GraphError(400, "BadRequest", f"A user can have at most {MAX_TAGS_PER_USER} tags in a team.")
    row = {
        "id": base64.b64encode(f"{tag['id']}##{user_id}".encode()).decode(),
        "userId": user_id,
        "displayName": member.get("displayName"),
        "tenantId": sb.tenant_id,
    }
    sb.store.put("tagmember", row, parent=tag["id"])
    return row


async def create_tag(sb: Sandbox, req: Req) -> Resp:
    team = team_or_404(sb, req.params["id"])
    body = req.json_body()
    name = body.get("displayName")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise GraphError(
            400, "BadRequest", f"displayName is required and can't be more than {MAX_NAME} characters."
        )
    members = body.get("members")
    if not isinstance(members, list) or not members or len(members) > MAX_AT_CREATE:
        raise GraphError(400, "BadRequest", f"A tag is created with 1 to {MAX_AT_CREATE} members.")
    existing = [t for _, t in sb.store.query("tag", parent=team["id"])]
    if len(existing) >= MAX_TAGS:
        raise GraphError(400, "BadRequest", f"A team can have at most {MAX_TAGS} tags.")
    if any(t["displayName"].casefold() == name.casefold() for t in existing):
        raise GraphError(409, "Conflict", f"A tag named '{name}' already exists in this team.")
    tag = {
        "@odata.type": "#microsoft.graph.teamworkTag",
        "id": base64.b64encode(f"{team['id']}##{uuid.uuid4()}".encode()).decode(),
        "teamId": team["id"],
        "displayName": name,
        "description": body.get("description"),
        "tagType": "standard",
    }
    with sb.store.tx():
        sb.store.put("tag", tag, parent=team["id"])
        for m in members:
            _add(sb, team["id"], tag, (m or {}).get("userId"))
    return entity(req, f"teams('{team['id']}')/tags", _shown(sb, tag), status=201)


async def list_tags(sb: Sandbox, req: Req) -> Resp:
    team = team_or_404(sb, req.params["id"])
    top, after = page_params(req, default=100, maximum=100)
    rows = sb.store.query("tag", parent=team["id"], after=after, limit=top + 1)
    return collection(req, f"teams('{team['id']}')/tags", [(n, _shown(sb, t)) for n, t in rows], top)


async def get_tag(sb: Sandbox, req: Req) -> Resp:
    tag = _tag_or_404(sb, team_or_404(sb, req.params["id"])["id"], req.params["tagId"])
    return entity(req, f"teams('{req.params['id']}')/tags", _shown(sb, tag))


async def delete_tag(sb: Sandbox, req: Req) -> Resp:
    tag = _tag_or_404(sb, team_or_404(sb, req.params["id"])["id"], req.params["tagId"])
    with sb.store.tx():
        for m in _members(sb, tag["id"]):
            sb.store.remove("tagmember", m["id"])
        sb.store.remove("tag", tag["id"])
    return Resp(204, None)


async def list_tag_members(sb: Sandbox, req: Req) -> Resp:
    tag = _tag_or_404(sb, team_or_404(sb, req.params["id"])["id"], req.params["tagId"])
    rows = sb.store.query("tagmember", parent=tag["id"])
    return collection(req, f"teams('{req.params['id']}')/tags('{tag['id']}')/members", rows, MAX_MEMBERS)


async def add_tag_member(sb: Sandbox, req: Req) -> Resp:
    team = team_or_404(sb, req.params["id"])
    tag = _tag_or_404(sb, team["id"], req.params["tagId"])
    row = _add(sb, team["id"], tag, req.json_body().get("userId"))
    return entity(req, f"teams('{team['id']}')/tags('{tag['id']}')/members", row, status=201)


async def remove_tag_member(sb: Sandbox, req: Req) -> Resp:
    tag = _tag_or_404(sb, team_or_404(sb, req.params["id"])["id"], req.params["tagId"])
    member = sb.store.get("tagmember", req.params["memberId"])
    if member is None or not any(m["id"] == member["id"] for m in _members(sb, tag["id"])):
        raise GraphError(404, "NotFound", f"Tag member {req.params['memberId']} not found.")
    sb.store.remove("tagmember", member["id"])
    return Resp(204, None)


def register(router: Router) -> None:
    router.add("POST", "/teams/{id}/tags", create_tag)
    router.add("GET", "/teams/{id}/tags", list_tags)
    router.add("GET", "/teams/{id}/tags/{tagId}", get_tag)
    router.add("DELETE", "/teams/{id}/tags/{tagId}", delete_tag)
    router.add("GET", "/teams/{id}/tags/{tagId}/members", list_tag_members)
    router.add("POST", "/teams/{id}/tags/{tagId}/members", add_tag_member)
    router.add("DELETE", "/teams/{id}/tags/{tagId}/members/{memberId}", remove_tag_member)

"""Team members: https://learn.microsoft.com/graph/api/resources/conversationmember

List/get/add/patch/delete one member, and the bulk ``POST /teams/{id}/members/add``
(https://learn.microsoft.com/graph/api/conversationmembers-add: at most 200 values, 200 when all
succeed, 207 with per-user results otherwise). A team keeps at least one owner.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from .core import Router, Sandbox
from .errors import GraphError
from .users import resolve_user
from .wire import Req, Resp, collection, entity, page_params

MEMBER_TYPE = "#microsoft.graph.aadUserConversationMember"
MAX_ADD = 200
_BIND = re.compile(r"users(?:\('([^']+)'\)|/([^/?]+))", re.I)


def membership_id(team_id: str, user_id: str) -> str:
    # Graph's ids look like base64 of "{something}##{teamId}##{userId}"; stable per team and user.
    return base64.b64encode(f"0#{team_id}##{user_id}".encode()).decode()


def bound_user_id(value: dict[str, Any]) -> str | None:
    bind = value.get("user@odata.bind")
    if isinstance(bind, str) and (m := _BIND.search(bind)):
        return m[1] or m[2]
    return value.get("userId")


def add_member(sb: Sandbox, team_id: str, user: dict[str, Any], roles: list[str]) -> dict[str, Any]:
    """Create or update a membership; logs the delta change and publishes the notification."""
    mid = membership_id(team_id, user["id"])
    existing = sb.store.get("member", mid)
    member = {
        "@odata.type": MEMBER_TYPE,
        "id": mid,
        "roles": [r for r in roles if r in ("owner", "guest")],
        "displayName": user.get("displayName"),
        "visibleHistoryStartDateTime": "0001-01-01T00:00:00Z",
        "userId": user["id"],
        "email": user.get("mail") or user.get("userPrincipalName"),
        "tenantId": sb.tenant_id,
        "_visibleAt": sb.now() + sb.seconds(sb.config.lag),
    }
    if existing:
        member["_visibleAt"] = existing["_visibleAt"]
    sb.store.put("member", member, parent=team_id)
    if not existing:
        sb.store.log_change(team_id, "member+", user["id"], sb.now())
    _log_owner_change(sb, team_id, user["id"], existing["roles"] if existing else [], member["roles"])
    sb.publish(
        {"kind": "member", "changeType": "updated" if existing else "created", "teamId": team_id, "id": mid}
    )
    return member


def _log_owner_change(sb: Sandbox, team_id: str, user_id: str, before: list[str], after: list[str]) -> None:
    """A team owner is an owner of its group: `/groups/delta?$select=owners` reports it."""
    if ("owner" in before) != ("owner" in after):
        sb.store.log_change(team_id, "owner+" if "owner" in after else "owner-", user_id, sb.now())


def owners(sb: Sandbox, team_id: str) -> int:
    return sb.store.count(
        "member",
        parent=team_id,
        where="EXISTS (SELECT 1 FROM json_each(data, '$.roles') WHERE value='owner')",
    )


def _last_owner_error() -> GraphError:
    # Teams refuses to leave a team without an owner; https://learn.microsoft.com/graph/api/team-archive
    # and the teams overview require an owner. Message as Teams answers it [unconfirmed wording].
    return GraphError(
        400, "BadRequest", "Cannot remove the last owner of the team. A team must have at least one owner."
    )


def remove_member(sb: Sandbox, team_id: str, member: dict[str, Any]) -> None:
    if "owner" in member["roles"] and owners(sb, team_id) <= 1:
        raise _last_owner_error()
    sb.store.remove("member", member["id"])
    sb.store.log_change(team_id, "member-", member["userId"], sb.now())
    _log_owner_change(sb, team_id, member["userId"], member["roles"], [])
    sb.publish({"kind": "member", "changeType": "deleted", "teamId": team_id, "id": member["id"]})


def set_roles(sb: Sandbox, team_id: str, member: dict[str, Any], roles: list[str]) -> dict[str, Any]:
    if "owner" in member["roles"] and "owner" not in roles and owners(sb, team_id) <= 1:
        raise _last_owner_error()
    before = list(member["roles"])
    member["roles"] = [r for r in roles if r in ("owner", "guest")]
    sb.store.put("member", member, parent=team_id)
    _log_owner_change(sb, team_id, member["userId"], before, member["roles"])
    sb.publish({"kind": "member", "changeType": "updated", "teamId": team_id, "id": member["id"]})
    return member


def _member_or_404(sb: Sandbox, team_id: str, mid: str) -> dict[str, Any]:
    member = sb.store.get("member", mid)
    if member is None or membership_id(team_id, member["userId"]) != mid:
        raise GraphError(404, "NotFound", f"Member with id {mid} not found in team {team_id}.")
    return member


def _ctx(team_id: str) -> str:
    return f"teams('{team_id}')/members"


async def list_members(sb: Sandbox, req: Req) -> Resp:
    from .teams import team_or_404

    team_id = team_or_404(sb, req.params["id"])["id"]
    top, after = page_params(req, default=1000, maximum=1000)
    rows = sb.store.query(
        "member",
        parent=team_id,
        where="json_extract(data, '$._visibleAt')<=?",
        args=[sb.now()],
        after=after,
        limit=top + 1,
    )
    return collection(req, _ctx(team_id), rows, top)


async def get_member(sb: Sandbox, req: Req) -> Resp:
    from .teams import team_or_404

    team_id = team_or_404(sb, req.params["id"])["id"]
    return entity(req, _ctx(team_id), _member_or_404(sb, team_id, req.params["membershipId"]))


def _user_or_error(sb: Sandbox, value: dict[str, Any]) -> dict[str, Any]:
    user_id = bound_user_id(value)
    user = resolve_user(sb, user_id) if user_id else None
    if user is None:
        raise GraphError(404, "NotFound", f"User not found: '{user_id}'.")
    return user


async def post_member(sb: Sandbox, req: Req) -> Resp:
    from .teams import team_or_404

    team_id = team_or_404(sb, req.params["id"])["id"]
    body = req.json_body()
    user = _user_or_error(sb, body)
    with sb.store.tx():
        member = add_member(sb, team_id, user, body.get("roles") or [])
    return entity(req, _ctx(team_id), member, status=201)


async def patch_member(sb: Sandbox, req: Req) -> Resp:
    from .teams import team_or_404

    team_id = team_or_404(sb, req.params["id"])["id"]
    member = _member_or_404(sb, team_id, req.params["membershipId"])
    roles = req.json_body().get("roles")
    if not isinstance(roles, list):
        raise GraphError(400, "BadRequest", "The 'roles' property is required.")
    return entity(req, _ctx(team_id), set_roles(sb, team_id, member, roles))


async def delete_member(sb: Sandbox, req: Req) -> Resp:
    from .teams import team_or_404

    team_id = team_or_404(sb, req.params["id"])["id"]
    remove_member(sb, team_id, _member_or_404(sb, team_id, req.params["membershipId"]))
    return Resp(204)


async def add_members(sb: Sandbox, req: Req) -> Resp:
    from .teams import team_or_404

    team_id = team_or_404(sb, req.params["id"])["id"]
    values = req.json_body().get("values")
    if not isinstance(values, list) or not values:
        raise GraphError(400, "BadRequest", "The 'values' property is required.")
    if len(values) > MAX_ADD:
        raise GraphError(
            400, "BadRequest", f"The number of members in the request exceeds the limit of {MAX_ADD}."
        )
    results: list[dict[str, Any]] = []
    failed = False
    with sb.store.tx():
        for value in values:
            user_id = bound_user_id(value) or ""
            user = resolve_user(sb, user_id) if user_id else None
            result: dict[str, Any] = {
                "@odata.type": "#microsoft.graph.aadUserConversationMemberResult",
                "userId": user["id"] if user else user_id,
                "error": None,
            }
            if user is None:
                failed = True
                result["error"] = {"code": "NotFound", "message": f"Could not find user with id '{user_id}'."}
            else:
                add_member(sb, team_id, user, value.get("roles") or [])
            results.append(result)
    body = {
        "@odata.context": f"{req.base}/$metadata#Collection(microsoft.graph.actionResultPart)",
        "value": results,
    }
    return Resp(207 if failed else 200, body)


def register(router: Router) -> None:
    router.add("POST", "/teams/{id}/members/add", add_members)
    router.add("GET", "/teams/{id}/members", list_members)
    router.add("POST", "/teams/{id}/members", post_member)
    router.add("GET", "/teams/{id}/members/{membershipId}", get_member)
    router.add("PATCH", "/teams/{id}/members/{membershipId}", patch_member)
    router.add("DELETE", "/teams/{id}/members/{membershipId}", delete_member)

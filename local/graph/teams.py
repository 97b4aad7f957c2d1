"""Groups and teams: async creation, archive/unarchive, soft delete and restore, lists.

- ``POST /teams``: 202 + ``Location: /teams('{id}')/operations('{opId}')`` and
  ``Content-Location: /teams('{id}')``; app-only creation must name an owner.
  https://learn.microsoft.com/graph/api/team-post
- ``teamsAsyncOperation``: https://learn.microsoft.com/graph/api/resources/teamsasyncoperation
- archive/unarchive (async, 202): https://learn.microsoft.com/graph/api/team-archive
- ``DELETE /groups/{id}``: soft delete, restorable for 30 days:
  https://learn.microsoft.com/graph/api/group-delete, https://learn.microsoft.com/graph/api/directory-deleteditems-restore
"""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any

from .channels import create_general
from .core import Router, Sandbox
from .errors import GraphError, not_found, now_iso
from .filters import compile_filter
from .licences import has_teams
from .members import add_member, bound_user_id
from .users import resolve_user
from .wire import Req, Resp, collection, entity, page_params

DOMAIN = "sandbox.onmicrosoft.com"
_GROUP_BIND = re.compile(r"groups(?:\('([^']+)'\)|/([^/?]+))", re.I)
_TEMPLATE_BIND = re.compile(r"teamsTemplates(?:\('([^']+)'\)|/([^/?]+))", re.I)


# -- lookups ------------------------------------------------------------------------------------
def team_or_404(sb: Sandbox, team_id: str) -> dict[str, Any]:
    """The team, if it exists, is provisioned, visible (lag) and not soft-deleted; else Teams' 404."""
    team = sb.store.get("team", team_id)
    now = sb.now()
    if team is None or team["_readyAt"] > now or team["_visibleAt"] > now:
        raise GraphError(404, "NotFound", f"No team found with Group Id {team_id}")
    pending = team.get("_archive")
    if pending and pending["at"] <= now:  # an archive/unarchive operation has completed
        team["isArchived"] = pending["value"]
        del team["_archive"]
        sb.store.put("team", team)
    return team


def group_or_404(sb: Sandbox, group_id: str) -> dict[str, Any]:
    group = sb.store.get("group", group_id)
    if group is None or group["_visibleAt"] > sb.now():
        raise not_found(group_id)
    return group


# -- async operations ---------------------------------------------------------------------------
def new_operation(sb: Sandbox, team_id: str, operation_type: str) -> dict[str, Any]:
    created = sb.now()
    op = {
        "id": str(uuid.uuid4()),
        "operationType": operation_type,
        "createdDateTime": now_iso(),
        "status": "notStarted",
        "lastActionDateTime": now_iso(),
        "attemptsCount": 1,
        "targetResourceId": team_id,
        "targetResourceLocation": f"/teams('{team_id}')",
        "error": None,
        "_createdAt": created,
        "_doneAt": created + sb.seconds(sb.config.async_delay),
    }
    sb.store.put("operation", op, parent=team_id)
    return op


def accepted(team_id: str, op: dict[str, Any]) -> Resp:
    return Resp(
        202,
        None,
        {
            "Location": f"/teams('{team_id}')/operations('{op['id']}')",
            "Content-Location": f"/teams('{team_id}')",
            "Content-Length": "0",
        },
    )


async def get_operation(sb: Sandbox, req: Req) -> Resp:
    op = sb.store.get("operation", req.params["opId"])
    if op is None or op["targetResourceId"] != req.params["id"]:
        raise GraphError(404, "NotFound", f"Operation {req.params['opId']} not found.")
    now = sb.now()
    span = max(op["_doneAt"] - op["_createdAt"], 1e-9)
    if now >= op["_doneAt"]:
        op["status"] = "succeeded"
    elif now - op["_createdAt"] >= span / 3:
        op["status"] = "inProgress"
    return entity(req, f"teams('{req.params['id']}')/operations", op)


# -- creation -----------------------------------------------------------------------------------
def _nickname(sb: Sandbox, display_name: str) -> str:
    base = re.sub(r"[^A-Za-z0-9]", "", display_name)[:50] or "team"
    nick = base
    while sb.store.find_one("group", "mailNickname", nick):
        nick = f"{base}{secrets.token_hex(2)}"
    return nick


def _team_doc(sb: Sandbox, group: dict[str, Any], body: dict[str, Any], ready_at: float) -> dict[str, Any]:
    thread = f"19:{secrets.token_hex(16)}@thread.tacv2"
    return {
        "id": group["id"],
        "createdDateTime": now_iso(),
        "displayName": group["displayName"],
        "description": group.get("description"),
        "internalId": thread,
        "classification": None,
        "specialization": "none",
        "visibility": (group.get("visibility") or "Public").lower(),
        "webUrl": f"https://teams.microsoft.com/l/team/{thread}/conversations?groupId={group['id']}&tenantId={sb.tenant_id}",
        "isArchived": False,
        "tenantId": sb.tenant_id,
        "memberSettings": body.get("memberSettings") or {"allowCreateUpdateChannels": True},
        "guestSettings": body.get("guestSettings") or {"allowCreateUpdateChannels": False},
        "messagingSettings": body.get("messagingSettings") or {"allowUserEditMessages": True},
        "funSettings": body.get("funSettings") or {"allowGiphy": True},
        "_readyAt": ready_at,
        "_visibleAt": group["_visibleAt"],
    }


def new_group(
    sb: Sandbox, display_name: str, description: str | None, visibility: str | None, team: bool
) -> dict[str, Any]:
    nick = _nickname(sb, display_name)
    group: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "createdDateTime": now_iso(),
        "deletedDateTime": None,
        "description": description,
        "displayName": display_name,
        "groupTypes": ["Unified"],
        "mail": f"{nick}@{DOMAIN}",
        "mailEnabled": True,
        "mailNickname": nick,
        "resourceProvisioningOptions": ["Team"] if team else [],
        "securityEnabled": False,
        "visibility": (visibility or "Public").capitalize(),
        "_visibleAt": sb.now() + sb.seconds(sb.config.lag),
    }
    sb.store.put("group", group)
    sb.store.log_change(group["id"], "group*", None, sb.now())  # "*": delta sends every member
    return group


async def create_team(sb: Sandbox, req: Req) -> Resp:
    body = req.json_body()
    template = body.get("template@odata.bind") or ""
    if not _TEMPLATE_BIND.search(template):
        raise GraphError(400, "BadRequest", "A team template must be specified with 'template@odata.bind'.")
    group_bind = body.get("group@odata.bind")
    if group_bind:
        return _teamify(sb, req, body, group_bind)
    if not body.get("displayName"):
        raise GraphError(400, "BadRequest", "displayName is required.")
    members = body.get("members") or []
    if not any("owner" in (m.get("roles") or []) for m in members):
        # App-only creation must name an owner: https://learn.microsoft.com/graph/api/team-post
        # (wording of the message [unconfirmed]).
        raise GraphError(
            400,
            "BadRequest",
            "Team owner not specified. When creating a team using application permissions, at least one "
            "owner must be specified in the members collection.",
        )
    users = []
    for m in members:
        uid = bound_user_id(m)
        user = resolve_user(sb, uid) if uid else None
        if user is None:
            raise GraphError(400, "BadRequest", f"Invalid user specified in members: '{uid}'.")
        users.append((user, m.get("roles") or []))
    for user, roles in users:
        if "owner" in roles and not has_teams(user):
            # An owner without a Teams licence: Teams' template service refuses the team. Status,
            # code and message as reported for POST /teams in microsoftgraph/microsoft-graph-docs
            # issue #11979 (the older PUT /groups/{id}/team said "Failed to retrieve appliable Sku
            # categories for the user", issues #3575/#7603); the cause is our reading, see the
            # Commerce docs' "Provision Teams from Commerce" (same message when nobody is licensed).
            raise GraphError(
                403,
                "Forbidden",
                "Failed to execute Templates backend request CreateTeamFromTemplateRequest. Request Url: "
                "https://teams.microsoft.com/fabric/templates/api/team, Request Method: POST, "
                'Response Status Code: Forbidden, ErrorMessage : {"errors":[{"message":'
                '"Error when calling Middle Tier. '
                "Message: ''. Error code: 'GetApplicableSkuCategoriesForUserFailed'. Status code: "
                'Forbidden.","errorCode":"Unknown"}]}',
            )
    with sb.store.tx():
        group = new_group(sb, body["displayName"], body.get("description"), body.get("visibility"), team=True)
        op = new_operation(sb, group["id"], "createTeam")
        team = _team_doc(sb, group, body, op["_doneAt"])
        sb.store.put("team", team)
        create_general(sb, team["id"], extra=body.get("channels") or [])
        for user, roles in users:
            add_member(sb, team["id"], user, roles)
    sb.publish({"kind": "team", "changeType": "created", "teamId": team["id"], "id": team["id"]})
    return accepted(team["id"], op)


def _teamify(sb: Sandbox, req: Req, body: dict[str, Any], bind: str) -> Resp:
    m = _GROUP_BIND.search(bind)
    group = group_or_404(sb, (m[1] or m[2]) if m else "")
    if sb.store.get("team", group["id"]):
        raise GraphError(409, "Conflict", "Team already exists for this group.")
    for key in ("displayName", "visibility", "members", "specialization"):
        if key in body:  # the team inherits these from the group; sending them again is an error
            raise GraphError(
                400, "BadRequest", f"'{key}' cannot be specified when creating a team from a group."
            )
    with sb.store.tx():
        group["resourceProvisioningOptions"] = ["Team"]
        sb.store.put("group", group)
        op = new_operation(sb, group["id"], "teamifyGroup")
        sb.store.put("team", _team_doc(sb, group, body, op["_doneAt"]))
        create_general(sb, group["id"], extra=body.get("channels") or [])
    return accepted(group["id"], op)


# -- teams --------------------------------------------------------------------------------------
async def get_team(sb: Sandbox, req: Req) -> Resp:
    return entity(req, "teams", team_or_404(sb, req.params["id"]))


async def list_teams(sb: Sandbox, req: Req) -> Resp:
    top, after = page_params(req, default=100, maximum=999)
    where, args = compile_filter(req.query["$filter"]) if req.query.get("$filter") else ("", [])
    ready = "json_extract(data, '$._readyAt')<=? AND json_extract(data, '$._visibleAt')<=?"
    now = sb.now()
    rows = sb.store.query(
        "team",
        where=f"{ready}" + (f" AND ({where})" if where else ""),
        args=[now, now, *args],
        after=after,
        limit=top + 1,
    )
    return collection(req, "teams", rows, top)


_TEAM_PATCHABLE = (
    "displayName",
    "description",
    "memberSettings",
    "guestSettings",
    "messagingSettings",
    "funSettings",
    "classification",
    "visibility",
)


def rename_team(sb: Sandbox, team: dict[str, Any], changes: dict[str, Any]) -> None:
    """Apply team changes (team and its group share displayName/description)."""
    with sb.store.tx():
        for key in _TEAM_PATCHABLE:
            if key in changes:
                team[key] = changes[key]
        sb.store.put("team", team)
        group = sb.store.get("group", team["id"])
        if group and ({"displayName", "description"} & changes.keys()):
            group["displayName"], group["description"] = team["displayName"], team.get("description")
            sb.store.put("group", group)
            sb.store.log_change(team["id"], "group", None, sb.now())
    sb.publish({"kind": "team", "changeType": "updated", "teamId": team["id"], "id": team["id"]})


async def patch_team(sb: Sandbox, req: Req) -> Resp:
    team = team_or_404(sb, req.params["id"])
    body = req.json_body()
    if "displayName" in body and not body["displayName"]:
        raise GraphError(400, "BadRequest", "displayName cannot be empty.")
    rename_team(sb, team, body)
    return Resp(204)


async def _set_archived(sb: Sandbox, req: Req, value: bool) -> Resp:
    team = team_or_404(sb, req.params["id"])
    op = new_operation(sb, team["id"], "archiveTeam" if value else "unarchiveTeam")
    team["_archive"] = {"value": value, "at": op["_doneAt"]}
    sb.store.put("team", team)
    sb.publish({"kind": "team", "changeType": "updated", "teamId": team["id"], "id": team["id"]})
    return accepted(team["id"], op)


async def archive_team(sb: Sandbox, req: Req) -> Resp:
    return await _set_archived(sb, req, True)


async def unarchive_team(sb: Sandbox, req: Req) -> Resp:
    return await _set_archived(sb, req, False)


# -- groups -------------------------------------------------------------------------------------
async def get_group(sb: Sandbox, req: Req) -> Resp:
    return entity(req, "groups", group_or_404(sb, req.params["id"]))


async def list_groups(sb: Sandbox, req: Req) -> Resp:
    top, after = page_params(req, default=100, maximum=999)
    where, args = compile_filter(req.query["$filter"]) if req.query.get("$filter") else ("", [])
    visible = "json_extract(data, '$._visibleAt')<=?"
    rows = sb.store.query(
        "group",
        where=visible + (f" AND ({where})" if where else ""),
        args=[sb.now(), *args],
        after=after,
        limit=top + 1,
    )
    return collection(req, "groups", rows, top)


async def delete_group(sb: Sandbox, req: Req) -> Resp:
    group = group_or_404(sb, req.params["id"])
    with sb.store.tx():
        group["deletedDateTime"] = now_iso()
        sb.store.put("group", group, deleted=True)
        sb.store.set_deleted("team", group["id"], True)
        sb.store.log_change(group["id"], "group-", None, sb.now())
    sb.publish({"kind": "group", "changeType": "updated", "teamId": group["id"], "id": group["id"]})
    return Resp(204)


def _deleted_group(sb: Sandbox, ident: str) -> dict[str, Any]:
    group = sb.store.get("group", ident, deleted=True)
    if group is None:
        raise not_found(ident)
    return group


async def get_deleted_item(sb: Sandbox, req: Req) -> Resp:
    group = _deleted_group(sb, req.params["id"])
    return entity(req, "directory/deletedItems", {"@odata.type": "#microsoft.graph.group", **group})


async def list_deleted_groups(sb: Sandbox, req: Req) -> Resp:
    top, after = page_params(req, default=100, maximum=999)
    rows = sb.store.query("group", deleted=True, after=after, limit=top + 1)
    return collection(req, "directory/deletedItems/microsoft.graph.group", rows, top)


async def restore_deleted_item(sb: Sandbox, req: Req) -> Resp:
    group = _deleted_group(sb, req.params["id"])
    with sb.store.tx():
        group["deletedDateTime"] = None
        sb.store.put("group", group, deleted=False)
        sb.store.set_deleted("team", group["id"], False)
        sb.store.log_change(group["id"], "group*", None, sb.now())
    sb.publish({"kind": "group", "changeType": "updated", "teamId": group["id"], "id": group["id"]})
    return entity(req, "directoryObjects", {"@odata.type": "#microsoft.graph.group", **group})


def register(router: Router) -> None:
    router.add("POST", "/teams", create_team)
    router.add("GET", "/teams", list_teams)
    router.add("GET", "/teams/{id}", get_team)
    router.add("PATCH", "/teams/{id}", patch_team)
    router.add("POST", "/teams/{id}/archive", archive_team)
    router.add("POST", "/teams/{id}/unarchive", unarchive_team)
    router.add("GET", "/teams/{id}/operations/{opId}", get_operation)
    router.add("GET", "/groups", list_groups)
    router.add("GET", "/groups/{id}", get_group)
    router.add("DELETE", "/groups/{id}", delete_group)
    router.add("GET", "/directory/deletedItems/microsoft.graph.group", list_deleted_groups)
    router.add("GET", "/directory/deletedItems/{id}", get_deleted_item)
    router.add("POST", "/directory/deletedItems/{id}/restore", restore_deleted_item)

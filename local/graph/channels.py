"""Channels: https://learn.microsoft.com/graph/api/resources/channel

- ``displayName`` at most 50 characters: https://learn.microsoft.com/graph/api/channel-post
- forbidden characters, and no leading ``_``/``.`` or trailing ``.``:
  https://learn.microsoft.com/microsoftteams/limits-specifications-teams
- duplicate name → 409 ``NameAlreadyExists``; General exists from creation and cannot be deleted.
"""

from __future__ import annotations

import secrets
from typing import Any

from .core import Router, Sandbox
from .errors import GraphError, now_iso
from .wire import Req, Resp, collection, entity, page_params

MAX_NAME = 50
FORBIDDEN = set("~#%&*{}+/\\:<>?|'\",")
GENERAL = "General"


def _new_channel(
    sb: Sandbox, team_id: str, name: str, body: dict[str, Any], ident: str | None = None
) -> dict[str, Any]:
    ident = ident or f"19:{secrets.token_hex(16)}@thread.tacv2"
    channel = {
        "id": ident,
        "createdDateTime": now_iso(),
        "displayName": name,
        "description": body.get("description"),
        "isFavoriteByDefault": body.get("isFavoriteByDefault"),
        "email": "",
        "tenantId": sb.tenant_id,
        "webUrl": f"https://teams.microsoft.com/l/channel/{ident}/{name}?groupId={team_id}&tenantId={sb.tenant_id}",
        "membershipType": body.get("membershipType") or "standard",
    }
    sb.store.put("channel", channel, parent=team_id)
    return channel


def validate_name(sb: Sandbox, team_id: str, name: Any, own_id: str | None = None) -> str:
    if not isinstance(name, str) or not name.strip():
        raise GraphError(400, "BadRequest", "Channel name cannot be empty.")
    if len(name) > MAX_NAME:
        raise GraphError(
            400, "BadRequest", f"Channel name length must be less than or equal to {MAX_NAME} characters."
        )
    if (
        FORBIDDEN & set(name)
        or ".." in name
        or name[0] in "_."
        or name.endswith(".")
        or any(ord(c) < 0x20 for c in name)
    ):
        raise GraphError(
            400, "BadRequest", "Channel name contains invalid characters or is in an invalid format."
        )
    for _, other in sb.store.query(
        "channel", parent=team_id, where="lower(json_extract(data, '$.displayName'))=lower(?)", args=[name]
    ):
        if other["id"] != own_id:
            raise GraphError(409, "NameAlreadyExists", "Channel name already existed, please use other name.")
    return name


def create_general(sb: Sandbox, team_id: str, extra: list[dict[str, Any]]) -> None:
    team = sb.store.get("team", team_id)
    _new_channel(sb, team_id, GENERAL, {"description": None}, ident=team["internalId"] if team else None)
    for body in extra:
        _new_channel(sb, team_id, validate_name(sb, team_id, body.get("displayName")), body)


def channel_or_404(sb: Sandbox, team_id: str, channel_id: str) -> dict[str, Any]:
    rows = sb.store.query("channel", parent=team_id, where="id=?", args=[channel_id])
    if not rows:
        raise GraphError(404, "NotFound", f"Channel {channel_id} not found in team {team_id}.")
    return rows[0][1]


def _ctx(team_id: str) -> str:
    return f"teams('{team_id}')/channels"


async def list_channels(sb: Sandbox, req: Req) -> Resp:
    from .teams import team_or_404

    team_id = team_or_404(sb, req.params["id"])["id"]
    top, after = page_params(req, default=1000, maximum=1000)
    return collection(
        req, _ctx(team_id), sb.store.query("channel", parent=team_id, after=after, limit=top + 1), top
    )


async def get_channel(sb: Sandbox, req: Req) -> Resp:
    from .teams import team_or_404

    team_id = team_or_404(sb, req.params["id"])["id"]
    return entity(req, _ctx(team_id), channel_or_404(sb, team_id, req.params["channelId"]))


async def post_channel(sb: Sandbox, req: Req) -> Resp:
    from .teams import team_or_404

    team_id = team_or_404(sb, req.params["id"])["id"]
    body = req.json_body()
    name = validate_name(sb, team_id, body.get("displayName"))
    channel = _new_channel(sb, team_id, name, body)
    sb.publish({"kind": "channel", "changeType": "created", "teamId": team_id, "id": channel["id"]})
    return entity(req, _ctx(team_id), channel, status=201)


def update_channel(sb: Sandbox, team_id: str, channel: dict[str, Any], changes: dict[str, Any]) -> None:
    if "displayName" in changes and changes["displayName"] != channel["displayName"]:
        if channel["displayName"] == GENERAL:
            raise GraphError(400, "BadRequest", "The General channel cannot be renamed.")
        channel["displayName"] = validate_name(sb, team_id, changes["displayName"], own_id=channel["id"])
    for key in ("description", "isFavoriteByDefault"):
        if key in changes:
            channel[key] = changes[key]
    sb.store.put("channel", channel, parent=team_id)
    sb.publish({"kind": "channel", "changeType": "updated", "teamId": team_id, "id": channel["id"]})


async def patch_channel(sb: Sandbox, req: Req) -> Resp:
    from .teams import team_or_404

    team_id = team_or_404(sb, req.params["id"])["id"]
    update_channel(sb, team_id, channel_or_404(sb, team_id, req.params["channelId"]), req.json_body())
    return Resp(204)


async def delete_channel(sb: Sandbox, req: Req) -> Resp:
    from .teams import team_or_404

    team_id = team_or_404(sb, req.params["id"])["id"]
    channel = channel_or_404(sb, team_id, req.params["channelId"])
    if channel["displayName"] == GENERAL:
        raise GraphError(400, "BadRequest", "The General channel cannot be deleted.")
    sb.store.remove("channel", channel["id"])
    sb.store.remove_children("tab", channel["id"])  # the channel's tabs go with it
    sb.publish({"kind": "channel", "changeType": "deleted", "teamId": team_id, "id": channel["id"]})
    return Resp(204)


def register(router: Router) -> None:
    router.add("GET", "/teams/{id}/channels", list_channels)
    router.add("POST", "/teams/{id}/channels", post_channel)
    router.add("GET", "/teams/{id}/channels/{channelId}", get_channel)
    router.add("PATCH", "/teams/{id}/channels/{channelId}", patch_channel)
    router.add("DELETE", "/teams/{id}/channels/{channelId}", delete_channel)

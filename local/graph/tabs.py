"""Apps installed in a team and channel tabs.

- ``GET/POST /teams/{id}/installedApps`` (POST ``{"teamsApp@odata.bind": ".../appCatalogs/teamsApps/{id}"}``
  -> 201, no body; installing twice -> 409): https://learn.microsoft.com/graph/api/team-post-installedapps
- ``GET/POST /teams/{id}/channels/{id}/tabs``, ``GET/PATCH/DELETE .../tabs/{tabId}``;
  POST needs ``displayName`` and ``teamsApp@odata.bind``; ``configuration`` is a
  teamsTabConfiguration (entityId, contentUrl required, websiteUrl, removeUrl); ``$expand=teamsApp``
  returns the app: https://learn.microsoft.com/graph/api/channel-post-tabs ,
  https://learn.microsoft.com/graph/api/resources/teamstabconfiguration
  The tab's app must be installed in the team first (Business Central's guide: "add the app to the
  team before adding the tab"): the sandbox refuses a tab for an app the team lacks.
- Graph sends no change notifications for tabs (none is listed among the supported resources,
  https://learn.microsoft.com/graph/change-notifications-overview), so the sandbox sends none.
Side channel ``delete-channel``: a person deletes a channel in Teams (its tabs go with it).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from .core import Router, Sandbox
from .errors import GraphError
from .wire import Req, Resp, collection, entity, page_params, public

#: Apps in the sandbox's catalog: the Dynamics 365 app for Teams (id as configured in
#: CTS_RECORDS__TEAMS_APP_ID; see docs/records.md) and a generic website app.
CATALOG = {
    "cd2d8695-bdc9-4d8e-9620-cc963ed81f41": {"displayName": "Dynamics 365", "externalId": None},
    "com.microsoft.teamspace.tab.web": {"displayName": "Website", "externalId": None},
}
_APP_BIND = re.compile(r"/appCatalogs/teamsApps/([^/'\"()]+)$")


def _app_id(body: dict[str, Any]) -> str:
    bind = str(body.get("teamsApp@odata.bind") or "")
    m = _APP_BIND.search(bind)
    if not m:
        raise GraphError(
            400, "BadRequest", "teamsApp@odata.bind is required: '.../appCatalogs/teamsApps/{id}'."
        )
    app_id = m.group(1)
    if app_id not in CATALOG:
        raise GraphError(404, "NotFound", f"App {app_id} was not found in the app catalog.")
    return app_id


def _app(app_id: str) -> dict[str, Any]:
    return {"id": app_id, "distributionMethod": "store", **CATALOG[app_id]}


async def list_installed(sb: Sandbox, req: Req) -> Resp:
    from .teams import team_or_404

    team_id = team_or_404(sb, req.params["id"])["id"]
    rows = sb.store.query("installedApp", parent=team_id)
    out = [
        (i, {**a, "teamsApp": _app(a["_appId"])} if "teamsApp" in req.query.get("$expand", "") else a)
        for i, a in rows
    ]
    return collection(req, f"teams('{team_id}')/installedApps", out, 1000)


async def install_app(sb: Sandbox, req: Req) -> Resp:
    from .teams import team_or_404

    team_id = team_or_404(sb, req.params["id"])["id"]
    app_id = _app_id(req.json_body())
    if sb.store.query(
        "installedApp", parent=team_id, where="json_extract(data, '$._appId')=?", args=[app_id]
    ):
        raise GraphError(409, "Conflict", "The app is already installed in this team.")
    sb.store.put("installedApp", {"id": str(uuid.uuid4()), "_appId": app_id}, parent=team_id)
    return Resp(201)


def _tab_view(tab: dict[str, Any], req: Req) -> dict[str, Any]:
    out = dict(tab)
    if "teamsApp" in req.query.get("$expand", ""):
        out["teamsApp"] = _app(tab["_appId"])
    return out


def _channel(sb: Sandbox, req: Req) -> tuple[str, dict[str, Any]]:
    from .channels import channel_or_404
    from .teams import team_or_404

    team_id = team_or_404(sb, req.params["id"])["id"]
    return team_id, channel_or_404(sb, team_id, req.params["channelId"])


async def list_tabs(sb: Sandbox, req: Req) -> Resp:
    team_id, channel = _channel(sb, req)
    top, after = page_params(req, default=100, maximum=999)
    rows = [
        (i, _tab_view(t, req))
        for i, t in sb.store.query("tab", parent=channel["id"], after=after, limit=top + 1)
    ]
    return collection(req, f"teams('{team_id}')/channels('{channel['id']}')/tabs", rows, top)


def _tab_or_404(sb: Sandbox, channel_id: str, tab_id: str) -> dict[str, Any]:
    rows = sb.store.query("tab", parent=channel_id, where="id=?", args=[tab_id])
    if not rows:
        raise GraphError(404, "NotFound", f"Tab {tab_id} not found.")
    return rows[0][1]


async def post_tab(sb: Sandbox, req: Req) -> Resp:
    team_id, channel = _channel(sb, req)
    body = req.json_body()
    name = body.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise GraphError(400, "BadRequest", "displayName is required.")
    app_id = _app_id(body)
    if not sb.store.query(
        "installedApp", parent=team_id, where="json_extract(data, '$._appId')=?", args=[app_id]
    ):
        raise GraphError(
            400, "BadRequest", f"App {app_id} is not installed in team {team_id}. Install it first."
        )
    config = body.get("configuration") or {}
    if not isinstance(config, dict) or not config.get("contentUrl"):
        raise GraphError(400, "BadRequest", "configuration.contentUrl is required.")
    tab_id = str(uuid.uuid4())
    tab = {
        "id": tab_id,
        "displayName": name,
        "webUrl": f"https://teams.microsoft.com/l/channel/{channel['id']}/tab::{tab_id}?groupId={team_id}",
        "configuration": {k: config.get(k) for k in ("entityId", "contentUrl", "websiteUrl", "removeUrl")},
        "_appId": app_id,
    }
    sb.store.put("tab", tab, parent=channel["id"])
    return entity(
        req, f"teams('{team_id}')/channels('{channel['id']}')/tabs", _tab_view(tab, req), status=201
    )


async def get_tab(sb: Sandbox, req: Req) -> Resp:
    team_id, channel = _channel(sb, req)
    tab = _tab_or_404(sb, channel["id"], req.params["tabId"])
    return entity(req, f"teams('{team_id}')/channels('{channel['id']}')/tabs", _tab_view(tab, req))


async def patch_tab(sb: Sandbox, req: Req) -> Resp:
    _, channel = _channel(sb, req)
    tab = _tab_or_404(sb, channel["id"], req.params["tabId"])
    body = req.json_body()
    if "displayName" in body:
        tab["displayName"] = body["displayName"]
    if isinstance(body.get("configuration"), dict):
        tab["configuration"].update(body["configuration"])
    sb.store.put("tab", tab, parent=channel["id"])
    return Resp(200, public(tab))


async def delete_tab(sb: Sandbox, req: Req) -> Resp:
    _, channel = _channel(sb, req)
    tab = _tab_or_404(sb, channel["id"], req.params["tabId"])
    sb.store.remove("tab", tab["id"])
    return Resp(204)


def delete_channel_as_person(sb: Sandbox, data: dict[str, Any]) -> dict[str, Any]:
    """Side channel: a person deletes a channel in Teams (change notification as for the API)."""
    from .channels import GENERAL, channel_or_404

    team_id = str(data.get("teamId"))
    channel = channel_or_404(sb, team_id, str(data.get("channelId")))
    if channel["displayName"] == GENERAL:
        raise GraphError(400, "BadRequest", "The General channel cannot be deleted.")
    sb.store.remove("channel", channel["id"])
    sb.store.remove_children("tab", channel["id"])
    sb.publish({"kind": "channel", "changeType": "deleted", "teamId": team_id, "id": channel["id"]})
    return {"deleted": channel["id"]}


def register(router: Router) -> None:
    router.add("GET", "/teams/{id}/installedApps", list_installed)
    router.add("POST", "/teams/{id}/installedApps", install_app)
    router.add("GET", "/teams/{id}/channels/{channelId}/tabs", list_tabs)
    router.add("POST", "/teams/{id}/channels/{channelId}/tabs", post_tab)
    router.add("GET", "/teams/{id}/channels/{channelId}/tabs/{tabId}", get_tab)
    router.add("PATCH", "/teams/{id}/channels/{channelId}/tabs/{tabId}", patch_tab)
    router.add("DELETE", "/teams/{id}/channels/{channelId}/tabs/{tabId}", delete_tab)

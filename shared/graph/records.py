"""Graph for record-connected channels: apps installed in a team, channel tabs, a channel's files
folder and the files in a folder.

- Install: POST /teams/{id}/installedApps (201; 409 when installed) — permission
  TeamsAppInstallation.ReadWriteForTeam.All. https://learn.microsoft.com/graph/api/team-post-installedapps
- Tabs: GET/POST/DELETE /teams/{id}/channels/{id}/tabs[/{tabId}] with `$expand=teamsApp` —
  permission TeamsTab.ReadWriteForTeam.All. https://learn.microsoft.com/graph/api/channel-post-tabs
- Files folder: GET /teams/{id}/channels/{id}/filesFolder — Files.Read.All.
  https://learn.microsoft.com/graph/api/channel-get-filesfolder
- Files at a URL (a document location's absolute URL): GET /shares/u!{base64url}/driveItem/children.
  https://learn.microsoft.com/graph/api/shares-get
"""

from __future__ import annotations

import base64
from typing import Any

from shared.domain.ids import segment
from shared.domain.records import ChannelTab, DriveFile, FilesFolder
from shared.graph.client import GraphClient
from shared.graph.errors import Conflict, NotFound
from shared.graph.paging import items


def _channel(team_id: str, channel_id: str) -> str:
    """`teams/{team}/channels/{channel}`, each id one percent-encoded path segment."""
    return f"teams/{segment(team_id)}/channels/{segment(channel_id)}"


APP_BIND = "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{app_id}"


def _tab(data: dict[str, Any]) -> ChannelTab:
    config = data.get("configuration") or {}
    app = data.get("teamsApp") or {}
    return ChannelTab(
        id=str(data["id"]),
        name=str(data.get("displayName") or ""),
        app_id=str(app.get("id") or ""),
        entity_id=str(config.get("entityId") or ""),
        content_url=str(config.get("contentUrl") or ""),
        website_url=str(config.get("websiteUrl") or ""),
    )


async def installed_app_ids(client: GraphClient, team_id: str) -> set[str]:
    rows = await items(client, f"teams/{segment(team_id)}/installedApps?$expand=teamsApp")
    return {str((r.get("teamsApp") or {}).get("id")) for r in rows}


async def install_app(client: GraphClient, team_id: str, app_id: str) -> bool:
    """True if installed now, False if it already was."""
    try:
        await client.call(
            "POST",
            f"teams/{segment(team_id)}/installedApps",
            {"teamsApp@odata.bind": APP_BIND.format(app_id=app_id)},
        )
    except Conflict:
        return False
    return True


async def list_tabs(client: GraphClient, team_id: str, channel_id: str) -> list[ChannelTab]:
    return [_tab(r) for r in await items(client, f"{_channel(team_id, channel_id)}/tabs?$expand=teamsApp")]


async def create_tab(
    client: GraphClient,
    team_id: str,
    channel_id: str,
    *,
    app_id: str,
    name: str,
    entity_id: str,
    content_url: str,
    website_url: str,
) -> ChannelTab:
    body = {
        "displayName": name,
        "teamsApp@odata.bind": APP_BIND.format(app_id=app_id),
        "configuration": {
            "entityId": entity_id,
            "contentUrl": content_url,
            "websiteUrl": website_url,
            "removeUrl": None,
        },
    }
    data, _ = await client.call("POST", f"{_channel(team_id, channel_id)}/tabs", body)
    return _tab({**data, "teamsApp": {"id": app_id}})


async def delete_tab(client: GraphClient, team_id: str, channel_id: str, tab_id: str) -> bool:
    try:
        await client.call("DELETE", f"{_channel(team_id, channel_id)}/tabs/{segment(tab_id)}")
    except NotFound:
        return False
    return True


async def files_folder(client: GraphClient, team_id: str, channel_id: str) -> FilesFolder:
    data, _ = await client.call("GET", f"{_channel(team_id, channel_id)}/filesFolder")
    return FilesFolder(
        id=str(data["id"]),
        drive_id=str((data.get("parentReference") or {}).get("driveId") or ""),
        name=str(data.get("name") or ""),
        web_url=str(data.get("webUrl") or ""),
    )


def share_id(url: str) -> str:
    """`u!` + unpadded base64url of the URL (Graph's encoding of a sharing URL)."""
    return "u!" + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def _file(data: dict[str, Any]) -> DriveFile:
    return DriveFile(
        id=str(data["id"]),
        name=str(data.get("name") or ""),
        web_url=str(data.get("webUrl") or ""),
        size=int(data.get("size") or 0),
    )


async def files_at(client: GraphClient, url: str) -> list[DriveFile] | None:
    """The files in the folder at `url`; None if there is no such folder."""
    try:
        return [_file(r) for r in await items(client, f"shares/{share_id(url)}/driveItem/children")]
    except NotFound:
        return None

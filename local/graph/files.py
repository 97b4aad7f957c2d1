"""A channel's files: its ``filesFolder`` (a driveItem in the team's SharePoint document library),
the folder's children, and ``/shares/{id}/driveItem`` to reach a folder by its URL.

- ``GET /teams/{id}/channels/{id}/filesFolder`` -> driveItem (name = the channel's folder,
  ``webUrl`` under ``/sites/<mailNickname>/Shared Documents``, ``parentReference.driveId``,
  ``folder.childCount``): https://learn.microsoft.com/graph/api/channel-get-filesfolder
  Private (and shared) channels have their own SharePoint site, so their folder lives there.
  https://learn.microsoft.com/microsoftteams/private-channels#private-channel-sharepoint-sites
- ``GET /drives/{drive-id}/items/{item-id}/children``: https://learn.microsoft.com/graph/api/driveitem-list-children
- ``GET /shares/{encoded-url}/driveItem[/children]`` where encoded-url is ``u!`` + unpadded
  base64url of the URL: https://learn.microsoft.com/graph/api/shares-get
- Deleting a channel keeps its folder and files in SharePoint (Teams deletes only the channel):
  https://support.microsoft.com/office/delete-a-channel-in-microsoft-teams
Side channel ``upload-file``: a person drops a file in the channel's Files tab.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import quote

from .core import Router, Sandbox
from .errors import GraphError, now_iso
from .wire import Req, Resp, collection, entity, page_params

SITE_ROOT = "https://sandbox.sharepoint.com/sites"
LIBRARY = "Shared Documents"


def _item_id() -> str:
    return "01" + secrets.token_hex(16).upper()


def drive_of(sb: Sandbox, team_id: str, channel: dict[str, Any]) -> dict[str, Any]:
    """The document library holding the channel's folder (the team's, or the private channel's)."""
    own_site = channel.get("membershipType") in ("private", "shared")
    key = f"{team_id}:{channel['id']}" if own_site else team_id
    drive_id = "b!" + base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()[:24]).decode().rstrip(
        "="
    )
    found = sb.store.get("drive", drive_id)
    if found:
        return found
    group = sb.store.get("group", team_id) or {}
    site = group.get("mailNickname") or team_id
    if own_site:
        site = f"{site}-{''.join(ch for ch in channel['displayName'] if ch.isalnum())}"
    drive = {
        "id": drive_id,
        "driveType": "documentLibrary",
        "name": "Documents",
        "webUrl": f"{SITE_ROOT}/{site}/{quote(LIBRARY)}",
        "_siteUrl": f"{SITE_ROOT}/{site}",
    }
    sb.store.put("drive", drive, parent=team_id)
    return drive


def files_folder(sb: Sandbox, team_id: str, channel: dict[str, Any]) -> dict[str, Any]:
    """The channel's folder, created on first use (as Teams does when the Files tab is opened)."""
    if channel.get("_folderId"):
        folder = sb.store.get("driveItem", channel["_folderId"])
        if folder:
            return folder
    drive = drive_of(sb, team_id, channel)
    name = channel["displayName"]
    folder = {
        "id": _item_id(),
        "createdDateTime": now_iso(),
        "lastModifiedDateTime": now_iso(),
        "name": name,
        "webUrl": f"{drive['webUrl']}/{quote(name)}",
        "size": 0,
        "parentReference": {"driveId": drive["id"], "driveType": "documentLibrary"},
        "folder": {"childCount": 0},
        "_siteUrl": drive["_siteUrl"],
    }
    sb.store.put("driveItem", folder, parent=drive["id"])
    channel["_folderId"] = folder["id"]
    sb.store.put("channel", channel, parent=team_id)
    return folder


def _children(sb: Sandbox, folder_id: str) -> list[tuple[int, dict[str, Any]]]:
    return sb.store.query("driveItem", parent=folder_id)


def _with_count(sb: Sandbox, item: dict[str, Any]) -> dict[str, Any]:
    if "folder" in item:
        return {**item, "folder": {"childCount": sb.store.count("driveItem", parent=item["id"])}}
    return item


async def get_files_folder(sb: Sandbox, req: Req) -> Resp:
    from .channels import channel_or_404
    from .teams import team_or_404

    team_id = team_or_404(sb, req.params["id"])["id"]
    channel = channel_or_404(sb, team_id, req.params["channelId"])
    folder = files_folder(sb, team_id, channel)
    return entity(req, f"teams('{team_id}')/channels('{channel['id']}')/filesFolder", _with_count(sb, folder))


def _item_or_404(sb: Sandbox, drive_id: str, item_id: str) -> dict[str, Any]:
    item = sb.store.get("driveItem", item_id)
    if item is None or item["parentReference"]["driveId"] != drive_id:
        raise GraphError(404, "itemNotFound", "The resource could not be found.")
    return item


async def list_children(sb: Sandbox, req: Req) -> Resp:
    item = _item_or_404(sb, req.params["driveId"], req.params["itemId"])
    top, after = page_params(req, default=200, maximum=1000)
    rows = sb.store.query("driveItem", parent=item["id"], after=after, limit=top + 1)
    return collection(req, f"drives('{req.params['driveId']}')/items('{item['id']}')/children", rows, top)


def _decode_share(share_id: str) -> str:
    if not share_id.startswith("u!"):
        raise GraphError(400, "invalidRequest", "Invalid shares id: encode the URL as u!<base64url>.")
    raw = share_id[2:]
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise GraphError(400, "invalidRequest", "Invalid shares id.") from None


def _by_url(sb: Sandbox, url: str) -> dict[str, Any]:
    wanted = url.rstrip("/").casefold()
    for _, item in sb.store.query(
        "driveItem", where="lower(json_extract(data, '$.webUrl'))=?", args=[wanted]
    ):
        return item
    raise GraphError(
        404, "itemNotFound", "The sharing link no longer exists, or you do not have permission to access it."
    )


async def share_item(sb: Sandbox, req: Req) -> Resp:
    item = _by_url(sb, _decode_share(req.params["shareId"]))
    return entity(req, "shares/driveItem", _with_count(sb, item))


async def share_children(sb: Sandbox, req: Req) -> Resp:
    item = _by_url(sb, _decode_share(req.params["shareId"]))
    top, after = page_params(req, default=200, maximum=1000)
    rows = sb.store.query("driveItem", parent=item["id"], after=after, limit=top + 1)
    return collection(req, "shares/driveItem/children", rows, top)


def upload_file(sb: Sandbox, data: dict[str, Any]) -> dict[str, Any]:
    """Side channel: a person uploads ``name`` into the channel's Files tab."""
    from .channels import channel_or_404

    team_id = str(data.get("teamId"))
    channel = channel_or_404(sb, team_id, str(data.get("channelId")))
    folder = files_folder(sb, team_id, channel)
    name = str(data.get("name") or "").strip()
    if not name or any(c in name for c in '"*:<>?/\\|'):
        raise GraphError(400, "invalidRequest", "Invalid file name.")
    content = str(data.get("content", ""))
    item = {
        "id": _item_id(),
        "createdDateTime": now_iso(),
        "lastModifiedDateTime": now_iso(),
        "name": name,
        "webUrl": f"{folder['webUrl']}/{quote(name)}",
        "size": len(content.encode()),
        "parentReference": {"driveId": folder["parentReference"]["driveId"], "id": folder["id"]},
        "file": {"mimeType": "application/octet-stream"},
    }
    sb.store.put("driveItem", item, parent=folder["id"])
    return item


def register(router: Router) -> None:
    router.add("GET", "/teams/{id}/channels/{channelId}/filesFolder", get_files_folder)
    router.add("GET", "/drives/{driveId}/items/{itemId}/children", list_children)
    router.add("GET", "/shares/{shareId}/driveItem", share_item)
    router.add("GET", "/shares/{shareId}/driveItem/children", share_children)

"""`/groups/delta` with members and owners: what changed in the store groups since the last round.

https://learn.microsoft.com/en-us/graph/delta-query-groups: follow @odata.nextLink until an
@odata.deltaLink arrives, keep that link as-is for next time; `members@delta` lists member changes
(removed ones carry `@removed`); a group that itself carries `@removed` was deleted. An expired
token answers 410 Gone (or a 400 with code syncStateNotFound / resyncRequired), which means a full
resynchronisation. Permission: GroupMember.Read.All (application). `$select=members,owners`:
"track other changes like ownership ... by selecting any group relationship of type
directoryObject collection"; only the related objects' ids come back, as `owners@delta`
(https://learn.microsoft.com/graph/api/group-delta). `$deltatoken=latest` starts a round from now
without reading the groups (https://learn.microsoft.com/graph/delta-query-overview).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.domain.subscriptions import GroupDelta, MemberChange
from shared.graph.client import GraphClient
from shared.graph.errors import BadRequest, Gone, GraphError
from shared.graph.paging import pages
from shared.graph.users import odata_quote

RESYNC_CODES = frozenset({"syncStateNotFound", "resyncRequired", "SyncStateNotFound", "ResyncRequired"})


def first_url(group_ids: Iterable[str] | None = None, *, from_now: bool = False) -> str:
    url = "groups/delta?$select=displayName,mailNickname,members,owners"
    ids = list(group_ids or [])
    if ids:  # Graph allows $filter by id only: "id eq '…' or id eq '…'"
        url += "&$filter=" + "%20or%20".join(f"id%20eq%20{odata_quote(gid)}" for gid in ids)
    if from_now:
        url += "&$deltatoken=latest"
    return url


async def groups_delta(
    client: GraphClient,
    delta_link: str | None = None,
    *,
    group_ids: Iterable[str] | None = None,
    from_now: bool = False,
) -> GroupDelta:
    """One full delta round from `delta_link` (or from the start). Never raises on an expired
    token: returns `resync_required=True` so the caller runs a full reconciliation."""
    url = delta_link or first_url(group_ids, from_now=from_now)
    changed: dict[str, None] = {}
    removed: dict[str, None] = {}
    changes: list[MemberChange] = []
    names: dict[str, str] = {}
    final_link: str | None = None
    try:
        async for page in pages(client, url):
            for group in page.get("value", []):
                _collect(group, changed, removed, changes)
                if "displayName" in group and "@removed" not in group:
                    names[str(group.get("id"))] = str(group["displayName"])
            final_link = page.get("@odata.deltaLink")
    except Gone:
        return GroupDelta(resync_required=True)
    except BadRequest as exc:
        if exc.code in RESYNC_CODES:
            return GroupDelta(resync_required=True)
        raise
    except GraphError as exc:
        if exc.code in RESYNC_CODES:
            return GroupDelta(resync_required=True)
        raise
    return GroupDelta(
        changed_group_ids=tuple(changed),
        removed_group_ids=tuple(removed),
        member_changes=tuple(changes),
        display_names=names,
        delta_link=final_link,
    )


def _collect(
    group: dict[str, Any], changed: dict[str, None], removed: dict[str, None], changes: list[MemberChange]
) -> None:
    group_id = str(group.get("id"))
    if "@removed" in group:
        removed[group_id] = None
        return
    changed[group_id] = None
    for relation, owner in (("members@delta", False), ("owners@delta", True)):
        for member in group.get(relation) or []:
            if str(member.get("@odata.type", "#microsoft.graph.user")).lower() != "#microsoft.graph.user":
                continue
            changes.append(
                MemberChange(
                    group_id=group_id,
                    user_id=str(member.get("id")),
                    removed="@removed" in member,
                    owner=owner,
                )
            )

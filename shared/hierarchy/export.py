"""Commerce's retail reporting hierarchy + the app's team mapping -> the targeting hierarchy CSV
that Teams' Tasks app publishes through (pure: no I/O).

Format, as "Set up your team targeting hierarchy" defines it (learn.microsoft.com/microsoftteams/
set-up-your-team-hierarchy; MicrosoftDocs/OfficeDocs-SkypeForBusiness Teams/set-up-your-team-
hierarchy.md): the first three columns are exactly `TargetName,ParentName,TeamId`, one row per node;
TargetName up to 100 characters, unique; ParentName the parent's TargetName exactly (empty for a
root); TeamId the team's group id, empty for a node that only groups others; leaf nodes must be
linked to a team to receive tasks; a team appears only once; no loops. Optional attribute and
`#bucket` columns are not generated. There is one hierarchy per tenant, and each upload
(`Set-TeamTargetingHierarchy -FilePath`) replaces it -- there is no Microsoft Graph API for it.

Nodes: the communications team (a root that publishes), every region and district (grouping
nodes, linked to their region team when the app keeps one), and every open store whose team the
app keeps, under its district or else its region. A store without a team or a closed store is
left out and listed in `skipped`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.commerce import Region, Store, StoreStatus

COLUMNS = ("TargetName", "ParentName", "TeamId")
MAX_NAME = 100
# The docs allow only A-Z, a-z and 0-9 in TargetName, while every one of their examples has
# spaces ("New York Store"); spaces are kept, everything else is dropped.
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9 ]+")


class HierarchyRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    target_name: str
    parent_name: str = ""
    team_id: str = ""
    source: str = Field(description="What the node stands for: store:0042, region:WEST, communications")


class HierarchyExport(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rows: tuple[HierarchyRow, ...]
    skipped: tuple[str, ...] = Field(default=(), description="Stores left out, with why")


def node_name(text: str, fallback: str) -> str:
    cleaned = " ".join(_NOT_ALLOWED.sub(" ", text).split())[:MAX_NAME].strip()
    return cleaned or fallback


def targeting_hierarchy(
    regions: Iterable[Region],
    stores: Iterable[Store],
    team_of: Mapping[str, str],
    *,
    communications_name: str = "Store communications",
) -> HierarchyExport:
    """`team_of` maps a team key (`store:0042`, `region:WEST`, `communications:all`) to its team id."""
    used: set[str] = set()

    def unique(name: str, qualifier: str) -> str:
        candidate = name
        if candidate.casefold() in used:
            candidate = node_name(f"{name[: MAX_NAME - len(qualifier) - 1]} {qualifier}", qualifier)
        n = 2
        while candidate.casefold() in used:  # still taken: number it
            candidate = node_name(f"{name[: MAX_NAME - 8]} {qualifier} {n}", qualifier)
            n += 1
        used.add(candidate.casefold())
        return candidate

    rows: list[HierarchyRow] = []
    comms = team_of.get("communications:all")
    if comms:
        rows.append(
            HierarchyRow(
                target_name=unique(node_name(communications_name, "Communications"), "team"),
                team_id=comms,
                source="communications",
            )
        )
    by_id = {r.id: r for r in regions}
    names: dict[str, str] = {}
    for region in _parents_first(by_id):
        names[region.id] = unique(node_name(region.name, region.id), region.id)
    for region in _parents_first(by_id):
        parent = region.parent if region.parent in by_id else None
        rows.append(
            HierarchyRow(
                target_name=names[region.id],
                parent_name=names[parent] if parent else "",
                team_id=team_of.get(f"region:{region.id}", ""),
                source=f"region:{region.id}",
            )
        )
    skipped: list[str] = []
    for store in sorted(stores, key=lambda s: s.number):
        team = team_of.get(f"store:{store.number}")
        if store.status is StoreStatus.CLOSED:
            skipped.append(f"store {store.number}: closed")
            continue
        if not team:
            skipped.append(f"store {store.number}: no team")
            continue
        place = next((p for p in (store.district, store.region) if p and p in names), None)
        rows.append(
            HierarchyRow(
                target_name=unique(node_name(f"{store.name} {store.number}", store.number), store.number),
                parent_name=names[place] if place else "",
                team_id=team,
                source=f"store:{store.number}",
            )
        )
    return HierarchyExport(rows=tuple(rows), skipped=tuple(skipped))


def _parents_first(by_id: Mapping[str, Region]) -> list[Region]:
    """Regions with a usable parent (known, and no cycle through it: else the node becomes a
    root), ordered parents before children, then by id."""
    depth: dict[str, int] = {}
    fixed: dict[str, Region] = {}
    for region in by_id.values():
        chain, node = [region.id], region.parent
        while node is not None and node in by_id and node not in chain:
            chain.append(node)
            node = by_id[node].parent
        cyclic = node == region.id  # the region sits on a loop of parents
        parent = region.parent if region.parent in by_id and not cyclic else None
        fixed[region.id] = region.model_copy(update={"parent": parent})
    for region_id in by_id:
        d, node = 0, fixed[region_id].parent
        while node is not None:
            d, node = d + 1, fixed[node].parent
        depth[region_id] = d
    return sorted(fixed.values(), key=lambda r: (depth[r.id], r.id))


def to_csv(export: HierarchyExport) -> str:
    """The CSV file for `Set-TeamTargetingHierarchy -FilePath` (CRLF rows, as csv writes them)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in export.rows:
        writer.writerow((row.target_name, row.parent_name, row.team_id))
    return buffer.getvalue()


def fingerprint(export: HierarchyExport) -> str:
    """Identifies the hierarchy's content: equal for the same nodes, parents and teams."""
    return hashlib.sha256(to_csv(export).encode("utf-8")).hexdigest()[:32]


__all__ = [
    "COLUMNS",
    "HierarchyExport",
    "HierarchyRow",
    "fingerprint",
    "node_name",
    "targeting_hierarchy",
    "to_csv",
]

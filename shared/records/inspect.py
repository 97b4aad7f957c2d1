"""Connections of one account, per record and per channel, with their problems -- what `cts records
connections` and the ops page show. Read-only: Dataverse rows and locations, Graph channels,
tabs, members and folders. Problems: record gone, channel gone, no tab, no location, location
broken (its URL reaches no folder), private channel (no documents), guests in the team."""

from __future__ import annotations

from typing import Any

from shared.records.desired import pass_key
from shared.records.plan import row_folder_url, same_url
from shared.records.records_pass import RecordsGateway, RecordsReader


async def connections(
    account_id: str,
    *,
    dataverse: RecordsReader,
    gateway: RecordsGateway,
    app_id: str,
    guest_ids: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """`guest_ids`: the template's guests (Entra ids), counted per channel's team."""
    scope = await dataverse.read_scope(account_id)
    refs = [o.ref for o in scope.opportunities]
    if scope.account:
        refs.insert(0, scope.account.ref)
    names = {str(o.ref): o.name for o in scope.opportunities}
    if scope.account:
        names[str(scope.account.ref)] = scope.account.name
    rows = await dataverse.collaborations([r.id for r in refs])
    locations = await dataverse.locations(refs)
    teams: dict[str, Any] = {}
    records: dict[str, dict[str, Any]] = {
        str(r): {"record": str(r), "name": names.get(str(r), ""), "connections": [], "problems": []}
        for r in refs
    }
    channels: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.team_id not in teams:
            teams[row.team_id] = await gateway.get_team_state(row.team_id)
        team = teams[row.team_id]
        problems: list[str] = []
        channel = next((c for c in team.channels if c.id == row.channel_id), None) if team else None
        tab = False
        if team is None:
            problems.append("team gone")
        elif channel is None:
            problems.append("channel gone (deleted in Teams)")
        else:
            tab = any(
                t.app_id == app_id and t.entity_id == str(row.regarding)
                for t in await gateway.list_tabs(row.team_id, row.channel_id)
            )
            if not tab:
                problems.append("no tab")
        url = row_folder_url(row)
        loc = next(
            (x for x in locations if x.regarding == row.regarding and same_url(x.absolute_url, url)), None
        )
        if channel is not None and channel.membership_type != "standard":
            problems.append("private channel: Dynamics shows no documents")
        elif loc is None:
            problems.append("no document location")
        elif await gateway.files_at(loc.absolute_url) is None:
            problems.append("location broken")
        guests = (
            sum(1 for m in team.members if "#EXT#" in (m.upn or "") or m.user_id.startswith("guest"))
            if team
            else 0
        )
        entry = {
            "team_id": row.team_id,
            "channel_id": row.channel_id,
            "channel": row.channel_name,
            "tab": tab,
            "location": loc.absolute_url if loc else None,
            "problems": problems,
        }
        record = records.setdefault(
            str(row.regarding),
            {"record": str(row.regarding), "name": "(gone)", "connections": [], "problems": ["record gone"]},
        )
        record["connections"].append(entry)
        ch = channels.setdefault(
            row.channel_id,
            {
                "team_id": row.team_id,
                "channel": row.channel_name,
                "records": [],
                "problems": [],
                "guests": guests,
            },
        )
        ch["records"].append(str(row.regarding))
        ch["problems"] = sorted(set(ch["problems"]) | set(problems))
    for r in records.values():
        if not r["connections"] and not r["problems"]:
            r["problems"].append("not connected")
    return {
        "key": pass_key(account_id),
        "records": sorted(records.values(), key=lambda r: r["record"]),
        "channels": sorted(channels.values(), key=lambda c: (c["team_id"], c["channel"])),
    }

"""Executing a records plan on paper: the actual state after its operations. Pure.

Used by the property tests (apply the plan, plan again: nothing to do) and by dry runs."""

from __future__ import annotations

import dataclasses
import itertools

from shared.domain.records import Collaboration, DocumentLocation
from shared.records.model import (
    GENERAL,
    ActualRecords,
    AddMembers,
    ArchiveTeam,
    ChannelState,
    CreateChannel,
    CreateLocation,
    CreateRow,
    CreateTab,
    CreateTeam,
    DeleteLocation,
    DeleteRow,
    DeleteTab,
    InstallApp,
    RecordsPlan,
    TabState,
    TeamState,
)

_ids = itertools.count(1)


def folder_url(team_id: str, channel: str) -> str:
    return f"https://sim.sharepoint.com/sites/{team_id}/Shared%20Documents/{channel}"


def apply(p: RecordsPlan, actual: ActualRecords) -> ActualRecords:
    teams = dict(actual.teams)
    tabs = list(actual.tabs)
    rows = list(actual.rows)
    locs = list(actual.locations)

    def resolve(team_key: str, channel: str) -> tuple[TeamState, ChannelState]:
        ts = teams[team_key]
        ch = ts.channel(channel)
        if ch is None:
            raise ValueError(f"plan uses channel {channel!r} of {team_key} before creating it")
        return ts, ch

    for op in p.operations:
        if isinstance(op, CreateTeam):
            if op.team_key in teams:
                raise ValueError(f"second team for {op.team_key}")
            tid = f"team-{next(_ids)}"
            general = ChannelState(id=f"ch-{next(_ids)}", name=GENERAL, folder_url=folder_url(tid, GENERAL))
            teams[op.team_key] = TeamState(op.team_key, tid, (general,), False, frozenset({op.owner_id}))
        elif isinstance(op, AddMembers):
            ts = teams[op.team_key]
            teams[op.team_key] = dataclasses.replace(ts, member_ids=ts.member_ids | set(op.user_ids))
        elif isinstance(op, CreateChannel):
            ts = teams[op.team_key]
            if ts.channel(op.name) is not None:
                raise ValueError(f"channel {op.name!r} created twice")
            ch = ChannelState(id=f"ch-{next(_ids)}", name=op.name, folder_url=folder_url(ts.team_id, op.name))
            teams[op.team_key] = dataclasses.replace(ts, channels=(*ts.channels, ch))
        elif isinstance(op, InstallApp):
            teams[op.team_key] = dataclasses.replace(teams[op.team_key], app_installed=True)
        elif isinstance(op, ArchiveTeam):
            teams[op.team_key] = dataclasses.replace(teams[op.team_key], archived=True)
        elif isinstance(op, CreateRow):
            ts, ch = resolve(op.connection.team_key, op.connection.channel)
            url = ch.folder_url or folder_url(ts.team_id, ch.name)
            rows.append(
                Collaboration(
                    id=f"row-{next(_ids)}",
                    regarding=op.connection.record,
                    team_id=ts.team_id,
                    channel_id=ch.id,
                    channel_name=ch.name,
                    channel_folder_url=url,
                )
            )
        elif isinstance(op, CreateLocation):
            ts, ch = resolve(op.connection.team_key, op.connection.channel)
            if ch.private:
                raise ValueError("a location for a private channel")
            locs.append(
                DocumentLocation(
                    id=f"loc-{next(_ids)}",
                    regarding=op.connection.record,
                    name=ch.name,
                    absolute_url=ch.folder_url or folder_url(ts.team_id, ch.name),
                )
            )
        elif isinstance(op, CreateTab):
            ts, ch = resolve(op.connection.team_key, op.connection.channel)
            if not ts.app_installed:
                raise ValueError("a tab before the app is installed")
            tabs.append(TabState(ts.team_id, ch.id, f"tab-{next(_ids)}", op.connection.record))
        elif isinstance(op, DeleteLocation):
            locs = [loc for loc in locs if loc.id != op.location_id]
        elif isinstance(op, DeleteTab):
            tabs = [t for t in tabs if t.tab_id != op.tab_id]
        elif isinstance(op, DeleteRow):
            rows = [r for r in rows if r.id != op.row_id]
        else:  # pragma: no cover - every operation type is handled above
            raise TypeError(op)
    return ActualRecords(
        teams=teams,
        tabs=tuple(tabs),
        rows=tuple(rows),
        locations=tuple(locs),
        deleted_channels=actual.deleted_channels | p.deleted_channels,
    )

"""Status of every team for operators: its team, its last sync and that sync's problems."""

from __future__ import annotations

from typing import Any

from shared.state import StateStore
from shared.state import teams as team_records
from shared.sync import records as sync_records


async def team_status(state: StateStore, key: str | None = None) -> list[dict[str, Any]]:
    teams = {r.key: r for r in await team_records.list_teams(state)}
    syncs = {r.key: r for r in await sync_records.list_syncs(state)}
    keys = sorted(set(teams) | set(syncs)) if key is None else [k for k in (key,) if k in teams or k in syncs]
    rows = []
    for k in keys:
        team, sync = teams.get(k), syncs.get(k)
        rows.append(
            {
                "key": k,
                "team_id": team.team_id if team else None,
                "adopted": team.adopted if team else None,
                "managed_members": len(team.managed_user_ids) if team else 0,
                "last_sync": sync.at.isoformat() if sync else None,
                "outcome": sync.outcome if sync else None,
                "operations": sync.operations if sync else 0,
                "problems": [p.model_dump(mode="json") for p in sync.problems] if sync else [],
                "error": sync.error if sync else None,
            }
        )
    return rows

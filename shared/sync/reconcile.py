"""Full reconciliation: the sync pass over every team, with a persisted drift report.

The orchestration (functions/provisioning.py `reconcile_all`) fans out `reconcile_team` in
bounded batches; each pass writes its own report entry, so a 1,000-team report never travels
through orchestration history. A dry run computes the same report and writes nothing to Teams.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.domain.teams import TeamKey, TeamKind
from shared.provisioning import COMMUNICATIONS_KEY
from shared.spine import RequestQueue, run_pass
from shared.state.store import new_report_id
from shared.sync.requests import TEAMS
from shared.sync.services import services
from shared.sync.team_pass import PassResult, busy_result, sync_team_pass


async def all_keys() -> list[str]:
    """Every team the app is responsible for: each Commerce store (open or closed), the
    communications and region teams when enabled, and every team it has a mapping for."""
    s = services()
    keys = {str(TeamKey.store(n)) for n in await s.commerce.store_numbers()}
    if s.settings.provisioning.communications_team_enabled:
        keys.add(str(COMMUNICATIONS_KEY))
    if s.settings.provisioning.region_teams_enabled:
        keys.update(str(TeamKey(kind=TeamKind.REGION, id=r)) for r in await s.commerce.region_ids())
    keys.update(r.key for r in await s.state.list_teams())
    return sorted(keys)


async def begin(keys: list[str] | None, *, report_id: str | None = None) -> dict[str, Any]:
    s = services()
    return {
        "keys": sorted(keys) if keys else await all_keys(),
        "batch_size": s.settings.reconcile.batch_size,
        "report_id": report_id or new_report_id(),
        "started": datetime.now(UTC).isoformat(),
    }


async def reconcile_team(
    key: str, *, report_id: str, dry_run: bool, instance_id: str | None
) -> dict[str, Any]:
    s = services()

    async def run(label: str) -> PassResult:
        return await sync_team_pass(
            TeamKey.parse(label),
            commerce=s.commerce,
            gateway=s.gateway,
            execute=s.execute,
            state=s.state,
            settings=s.settings,
            dry_run=dry_run,
            instance_id=instance_id,
        )

    # A dry run writes nothing, so it needs no lease; a real pass holds the team's (it may run
    # beside the team's orchestration: a held lease answers "busy" and requests one more pass).
    if dry_run:
        result = await run(key)
    else:
        result = await run_pass(RequestQueue(s.state, TEAMS), key, run, owner=instance_id, busy=busy_result)
    entry = result.to_json()
    await s.state.put_report_entry(report_id, key, entry)
    return {
        "key": key,
        "outcome": result.outcome,
        "operations": len(entry["operations"]),
        "problems": len(entry["problems"]),
        "graph_requests": entry["graph_requests"],
    }


async def finish(payload: dict[str, Any]) -> dict[str, Any]:
    s = services()
    summary = {
        "dry_run": payload["dry_run"],
        "started": payload["started"],
        "finished": datetime.now(UTC).isoformat(),
        "teams": payload["teams"],
        "outcomes": payload["outcomes"],
    }
    await s.state.finish_report(payload["report_id"], summary)
    return {**summary, "report_id": payload["report_id"]}

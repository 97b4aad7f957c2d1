"""Reading what the hierarchy export needs and remembering what was exported (I/O glue around the
pure `targeting_hierarchy`): Commerce's hierarchy and stores (one full read, an operator action),
the app's team records, and the fingerprint of the last exported file in the state store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.commerce.client import CommerceClient
from shared.hierarchy.export import fingerprint, targeting_hierarchy, to_csv
from shared.settings import Settings
from shared.state import StateStore
from shared.state import teams as team_records

_PARTITION, _NAME = "hierarchy", "exported"


async def current_hierarchy(
    commerce: CommerceClient, state: StateStore, settings: Settings
) -> dict[str, Any]:
    """The CSV as it would be exported now, and whether it differs from the last export."""
    (regions, _), stores, teams = (
        await commerce.hierarchy(),
        await commerce.stores(),
        await team_records.list_teams(state),
    )
    export = targeting_hierarchy(
        regions,
        stores,
        {t.key: t.team_id for t in teams},
        communications_name=settings.provisioning.communications_team_name,
    )
    fp = fingerprint(export)
    last = await state.get_value(_PARTITION, _NAME)
    return {
        "csv": to_csv(export),
        "fingerprint": fp,
        "nodes": len(export.rows),
        "stores": sum(r.source.startswith("store:") for r in export.rows),
        "skipped": list(export.skipped),
        "last_export": last,
        # Stale: exported before, and the org or the team mapping changed since.
        "stale": last is not None and last.get("fingerprint") != fp,
    }


async def mark_exported(state: StateStore, fp: str, *, nodes: int, by: str) -> dict[str, Any]:
    value = {"fingerprint": fp, "nodes": nodes, "by": by, "at": datetime.now(UTC).isoformat()}
    await state.put_value(_PARTITION, _NAME, value)
    await state.audit("hierarchy", {"action": "exported", **value})
    return value


__all__ = ["current_hierarchy", "mark_exported"]

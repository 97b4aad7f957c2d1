"""The provisioning feature's own state: each team's last pass (`SyncRecord`, partition
`syncs/last`) and the reconciliation reports (partition `reports/<report id>`, one row per team
written by its pass, a summary row, and `reports/latest` pointing at the newest)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from shared.domain.plan import Problem
from shared.state.store import REPORTS, SYNCS, StateStore, _now


def new_report_id() -> str:
    return _now().strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


class SyncRecord(BaseModel):
    key: str
    outcome: str = Field(description="converged | changed | held | blocked | failed")
    at: datetime = Field(default_factory=_now)
    operations: int = 0
    problems: list[Problem] = Field(default_factory=list)
    error: str | None = None
    instance_id: str | None = None


async def record_sync(state: StateStore, record: SyncRecord) -> None:
    await state.backend.upsert(SYNCS, "last", record.key, record.model_dump(mode="json"))


async def get_sync(state: StateStore, key: str) -> SyncRecord | None:
    found = await state.backend.get(SYNCS, "last", key)
    return None if found is None else SyncRecord.model_validate(found.data)


async def list_syncs(state: StateStore) -> list[SyncRecord]:
    return [SyncRecord.model_validate(e.data) async for e in state.backend.query(SYNCS, "last")]


async def save_report(state: StateStore, summary: dict[str, Any], stores: dict[str, dict[str, Any]]) -> str:
    """Persist a whole reconciliation report at once; returns its id."""
    report_id = new_report_id()
    for store, entry in stores.items():
        await put_report_entry(state, report_id, store, entry)
    await finish_report(state, report_id, summary)
    return report_id


async def put_report_entry(state: StateStore, report_id: str, key: str, entry: dict[str, Any]) -> None:
    """One team's part of a report (written by its pass, so reports of 1,000 teams never
    travel through an orchestration's history)."""
    await state.backend.upsert(REPORTS, report_id, f"store:{key}", entry)


async def finish_report(state: StateStore, report_id: str, summary: dict[str, Any]) -> None:
    await state.backend.upsert(REPORTS, report_id, "~summary", {**summary, "id": report_id})
    await state.backend.upsert(REPORTS, "latest", "pointer", {"id": report_id})


async def get_report(state: StateStore, report_id: str | None = None) -> dict[str, Any] | None:
    if report_id is None:
        pointer = await state.backend.get(REPORTS, "latest", "pointer")
        if pointer is None:
            return None
        report_id = str(pointer.data["id"])
    summary: dict[str, Any] | None = None
    stores: dict[str, Any] = {}
    async for e in state.backend.query(REPORTS, report_id):
        if e.row == "~summary":
            summary = e.data
        else:
            stores[e.row.removeprefix("store:")] = e.data
    return None if summary is None else {**summary, "stores": stores}

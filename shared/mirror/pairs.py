"""Task mirroring's own partitions of the state store: the pair status table (partition `pair`,
one row per mirrored pair, e.g. 'TL-7/1@0042') and the last pass of each pair (partition `last`,
`MirrorRecord`, shown by ops/tasks).

Kept in the state store's generic named values (table `pairs`), so the store does not know the
task types (shared/state is a gateway; `PairStatus` is the planning model)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from shared.domain.plan import Problem
from shared.state import StateStore
from shared.tasks import PairStatus

PAIR = "pair"
LAST = "last"


async def get_pair(state: StateStore, key: str) -> PairStatus | None:
    """The status-table row of one mirrored pair, None when never synced."""
    found = await state.get_value(PAIR, key)
    return None if found is None else PairStatus.model_validate(found)


async def put_pair(state: StateStore, status: PairStatus) -> None:
    await state.put_value(PAIR, status.key, status.model_dump(mode="json"))


async def delete_pair(state: StateStore, key: str) -> None:
    await state.delete_value(PAIR, key)


async def list_pairs(state: StateStore) -> list[PairStatus]:
    return [PairStatus.model_validate(data) for data in (await state.list_values(PAIR)).values()]


class MirrorRecord(BaseModel):
    """The last mirror pass of one task pair, for operators (ops/tasks) and tests."""

    key: str
    outcome: str = Field(description="shared.tasks.Outcome value, or held | blocked | failed")
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    writes: int = 0
    rounds: int = 1
    reports: list[dict[str, Any]] = Field(default_factory=list, description="Report actions (kind, detail)")
    problems: list[Problem] = Field(default_factory=list)
    error: str | None = None


async def record_mirror(state: StateStore, record: MirrorRecord) -> None:
    """The last mirror pass of a pair: outcome, reports and problems (shown by ops/tasks)."""
    await state.put_value(LAST, record.key, record.model_dump(mode="json"))


async def get_mirror(state: StateStore, key: str) -> MirrorRecord | None:
    found = await state.get_value(LAST, key)
    return None if found is None else MirrorRecord.model_validate(found)


async def list_mirrors(state: StateStore) -> list[MirrorRecord]:
    return [MirrorRecord.model_validate(data) for data in (await state.list_values(LAST)).values()]

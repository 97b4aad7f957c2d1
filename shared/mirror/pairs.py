"""The pair status table, owned by task mirroring: one row per mirrored pair ('TL-7/1@0042').

Kept in the state store's generic named values (table `pairs`, partition `pair`), so the store
does not know the task types (shared/state is a gateway; `PairStatus` is the planning model)."""

from __future__ import annotations

from shared.state import StateStore
from shared.tasks import PairStatus

PAIR = "pair"


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

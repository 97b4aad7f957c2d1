"""Commerce -> Teams intake: which pairs a task event names, and the task reconciliation.

A task event is a hint like any other: `TaskChanged` names one store task (one pair);
`TaskListPublished` / `TaskListChanged` name a list, whose published copies are read *now* from
Commerce (one OData query) -- so a list published to 40 stores requests 40 pairs' passes.
The reconciliation reads every store task and requests a pass for each one whose Commerce version
differs from the status table (or that was never mirrored): lost events are covered by it.
"""

from __future__ import annotations

from shared.domain.events import CommerceHint, HintScope
from shared.domain.tasks import StoreTask, TaskStatus
from shared.mirror.keys import PairKey
from shared.mirror.pairs import list_pairs
from shared.mirror.ports import StoreTaskReader
from shared.spine import OrchestrationClient, RequestQueue, request_many
from shared.spine.features import TASK_PAIRS
from shared.state import StateStore
from shared.tasks import CommerceSide, PairStatus


async def keys_of_hint(hint: CommerceHint, commerce: StoreTaskReader) -> list[str]:
    ids = hint.ids
    if hint.scope is HintScope.TASK:
        return [str(PairKey(task_list=ids["task_list"], task=ids["task"], store=ids["store"]))]
    if hint.scope is HintScope.TASK_LIST:
        rows = await commerce.store_tasks(task_list=ids["task_list"])
        return sorted({t.key for t in _keyable(rows)})
    raise ValueError(f"not a task hint: {hint.scope}")


async def request_task_mirrors(
    hint: CommerceHint, *, commerce: StoreTaskReader, state: StateStore, client: OrchestrationClient
) -> list[str]:
    """Request a mirror pass for every pair the hint names; returns the keys."""
    keys = await keys_of_hint(hint, commerce)
    reason = f"{hint.event_type} {hint.event_id}"
    await request_many(TASK_PAIRS, keys, client, RequestQueue(state, TASK_PAIRS), reason=reason)
    return keys


def _keyable(rows: list[StoreTask]) -> list[StoreTask]:
    """The rows whose ids can key a pair; a Commerce row with an id that breaks the id rules
    (e.g. a '/' in TaskId) is left out rather than mixed up with another pair."""
    return [t for t in rows if PairKey.is_valid(t.task_list, t.task, t.store)]


def needs_pass(task: StoreTask, status: PairStatus | None) -> bool:
    """Whether a store task differs from what the status table last saw of it."""
    if status is None:
        return task.status is not TaskStatus.CANCELED
    if status.tombstone:
        return False
    if status.planner is None or status.planner.task_id is None:
        return True
    seen = CommerceSide.seen(task).version
    return status.commerce is None or seen is None or seen != status.commerce.version


async def reconcile_keys(commerce: StoreTaskReader, state: StateStore) -> list[str]:
    """Pairs whose Commerce side moved without the app seeing it, and pairs whose store task is gone."""
    rows = await commerce.store_tasks()
    pairs = {p.key: p for p in await list_pairs(state)}
    rows = _keyable(rows)
    keys = [t.key for t in rows if needs_pass(t, pairs.get(t.key))]
    present = {t.key for t in rows}
    keys += [k for k, p in pairs.items() if k not in present and not p.tombstone]
    return sorted(set(keys))

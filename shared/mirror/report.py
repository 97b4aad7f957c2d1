"""The read side of the completion report of one task list (the pure rule is
`shared.tasks.report`): bulk reads only, never one request per store.

Per report, whatever the number of stores:

- Commerce: the list's store tasks (one `$filter` query, `ceil(rows / 1,000)` pages at F&O's page
  size), the stores (1 query, 1 page at 1,000 stores) and the retail hierarchy they are placed in
  (nodes, 2 pages at 1,000 stores, and managers, 1), the list itself (list + its task
  definitions, 2);
- state store: the pair status table and the last mirror passes (one query each).

Measured on the Commerce sandbox at 1,000 stores x 3 tasks: 9 Commerce requests (3 pages of
store tasks + 6), 2 state queries (`tests/contract/commerce/test_completion_report_reads.py`);
at 1,000 stores x 10 tasks it is 10 pages + 6 = 16 requests. No request per store.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from shared.mirror.pairs import list_mirrors, list_pairs
from shared.settings import Settings
from shared.state import StateStore
from shared.tasks.report import (
    CompletionReport,
    MirrorFacts,
    StorePlace,
    completion_report,
    mirror_facts,
)


async def task_list_report(
    task_list: str,
    *,
    commerce: Any,
    state: StateStore,
    settings: Settings,
    region: str | None = None,
    now: datetime | None = None,
) -> CompletionReport | None:
    """The completion report of `task_list`, None when Commerce has no such list (`commerce` is the
    CommerceClient)."""
    lists, rows, stores = await asyncio.gather(
        commerce.task_lists([task_list]), commerce.store_tasks(task_list=task_list), commerce.stores()
    )
    listed = next((t for t in lists if t.id == task_list), None)
    if listed is None and not rows:
        return None
    facts = await _mirror_facts(state, {t.key for t in rows})
    return completion_report(
        task_list,
        rows,
        _places(stores),
        facts,
        now=now or datetime.now(UTC),
        fallback_zone=settings.tasks.default_time_zone,
        region=region,
        list_name=listed.name if listed else None,
    )


async def every_list_report(
    *, commerce: Any, state: StateStore, settings: Settings, now: datetime | None = None
) -> list[CompletionReport]:
    """The report of every task list published to a store (the ops page's section): the same
    reads as one list's, with every store task instead of one list's (`ceil(rows / page size)`
    pages of store tasks)."""
    lists, rows, stores = await asyncio.gather(
        commerce.task_lists(), commerce.store_tasks(), commerce.stores()
    )
    names = {t.id: t.name for t in lists}
    facts = await _mirror_facts(state, {t.key for t in rows})
    places, moment = _places(stores), now or datetime.now(UTC)
    return [
        completion_report(
            list_id,
            rows,
            places,
            facts,
            now=moment,
            fallback_zone=settings.tasks.default_time_zone,
            list_name=names.get(list_id),
        )
        for list_id in sorted({t.task_list for t in rows})
    ]


def _places(stores: Any) -> dict[str, StorePlace]:
    return {
        s.number: StorePlace(number=s.number, name=s.name, region=s.region, time_zone=s.time_zone)
        for s in stores
    }


async def _mirror_facts(state: StateStore, keys: set[str]) -> dict[str, MirrorFacts]:
    """The status table and the last passes (one query each), as facts per store task key."""
    pairs = {p.key: p for p in await list_pairs(state)}
    passes = {m.key: m for m in await list_mirrors(state)}
    facts: dict[str, MirrorFacts] = {}
    for key in keys:
        last = passes.get(key)
        found = mirror_facts(
            pairs.get(key),
            last.outcome if last else None,
            [p.kind.value for p in last.problems] if last else (),
        )
        if found is not None:
            facts[key] = found
    return facts


__all__ = ["every_list_report", "task_list_report"]

"""What one completion report costs at 1,000 stores: the production read side
(shared/mirror/report.py) with the real OData client against the Commerce sandbox (F&O's page
size of 1,000 rows) and a SQLite state store. Bulk reads only: the count does not grow with the
number of stores beyond the pages of the store task rows."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from local.commerce.testing import CommerceSandboxHandle, running_commerce_sandbox
from local.scenarios.generate import generate_org
from shared.commerce.client import CommerceClient
from shared.mirror.report import task_list_report
from shared.settings import CommerceSettings, Settings
from shared.state import StateStore
from shared.state.sqlite import SqliteBackend

STORES = 1000


@pytest.fixture(scope="module")
def thousand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CommerceSandboxHandle]:
    org = generate_org(stores=STORES, workers=2 * STORES, seed=5)
    db = tmp_path_factory.mktemp("thousand") / "commerce.sqlite"
    with running_commerce_sandbox(db, org=org, seed=5) as handle:
        numbers = [s["number"] for s in org["stores"]]
        handle.change("publish_task_list", task_list="TL-1", stores=numbers, target_date="2030-03-10")
        yield handle


async def test_one_report_at_1000_stores_is_a_few_bulk_reads(
    thousand: CommerceSandboxHandle, tmp_path: Path
) -> None:
    settings = Settings()
    config = CommerceSettings(base_url=thousand.base_url, auth="static_token", static_token=thousand.token)
    state = StateStore(SqliteBackend(tmp_path / "state.sqlite"))
    thousand.reset_counters()
    try:
        async with CommerceClient(config) as commerce:
            report = await task_list_report(
                "TL-1",
                commerce=commerce,
                state=state,
                settings=settings,
                now=datetime(2030, 3, 1, tzinfo=UTC),
            )
    finally:
        await state.close()
    assert report is not None
    stores = [s for r in report.regions for s in r.stores]
    assert len(stores) == STORES and report.totals.tasks == 3 * STORES and report.totals.open == 3 * STORES
    requests = thousand.counters()
    task_pages = math.ceil(3 * STORES / 1000)
    assert requests[f"GET {config.entity_sets.store_tasks} 200"] == task_pages
    total = sum(requests.values())
    # The list (2), the stores (1 page) and their hierarchy (nodes + managers), the task rows' pages.
    assert total <= task_pages + 8, requests
    print(f"\ncompletion report at {STORES} stores x 3 tasks: {total} Commerce requests {dict(requests)}")

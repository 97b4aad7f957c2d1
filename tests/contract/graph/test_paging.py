"""The one nextLink pager (shared/graph/paging.py) through the real client against the Graph sandbox:
many pages, an empty collection, throttled pages, a first page taken from a `$batch` answer."""

from __future__ import annotations

import math
from typing import Any

from shared.graph import BatchRequest, Gateway
from shared.graph.paging import items, pages


async def _listed(gateway: Gateway, url: str) -> list[dict[str, Any]]:
    return [page async for page in pages(gateway.client(), url)]


async def test_every_page_is_read_once_and_keeps_the_query(
    gateway: Gateway, sandbox: Any, people: list[dict[str, Any]]
) -> None:
    sandbox.reset_counters()
    listed = await _listed(gateway, "users?$top=50&$select=id,userPrincipalName")
    rows = [row for page in listed for row in page["value"]]
    ids = [row["id"] for row in rows]
    assert {p["id"] for p in people} <= set(ids)
    assert len(ids) == len(set(ids))
    assert len(listed) == math.ceil(len(ids) / 50)
    assert all(len(page["value"]) == 50 for page in listed[:-1])
    assert "@odata.nextLink" not in listed[-1]
    # the nextLink carries the original $select: later pages show only the selected fields
    assert all(set(row) <= {"id", "userPrincipalName", "@odata.type"} for row in rows)
    requests = sandbox.counters()["requests"]["GET /users"]
    assert sum(int(n) for n in requests.values()) == len(listed)


async def test_an_empty_collection_is_one_page_without_items(gateway: Gateway, sandbox: Any) -> None:
    sandbox.reset_counters()
    listed = await _listed(gateway, "users?$filter=employeeId%20eq%20'nobody'")
    assert [page["value"] for page in listed] == [[]]
    assert await items(gateway.client(), "users?$filter=employeeId%20eq%20'nobody'") == []
    assert await items(gateway.client(), None) == []
    requests = sandbox.counters()["requests"]["GET /users"]
    assert sum(int(n) for n in requests.values()) == 2


async def test_throttled_pages_are_retried_and_nothing_is_lost_or_repeated(
    gateway: Gateway, sandbox: Any, people: list[dict[str, Any]]
) -> None:
    url = "users?$top=40&$select=id"
    expected = [row["id"] for row in await items(gateway.client(), url)]
    sandbox.reset_counters()
    sandbox.set_faults("GET /users", throttle_ratio=0.5, retry_after=0.05, seconds=30)
    try:
        retries_before = gateway.stats.retries
        throttled = [row["id"] for row in await items(gateway.client(), url)]
    finally:
        sandbox.clear_faults()
    assert throttled == expected
    counted = sandbox.counters()["requests"]["GET /users"]
    assert int(counted.get("429", 0)) > 0
    assert int(counted["200"]) == math.ceil(len(expected) / 40)
    assert gateway.stats.retries - retries_before == int(counted["429"])


async def test_a_batch_answer_is_the_first_page(
    gateway: Gateway, sandbox: Any, people: list[dict[str, Any]]
) -> None:
    answers = await gateway.batch([BatchRequest("u", "GET", "/users?$top=100&$select=id")])
    first = answers["u"].json()
    assert first.get("@odata.nextLink")
    from_batch = [row["id"] for row in await items(gateway.client(), first)]
    direct = [row["id"] for row in await items(gateway.client(), "users?$top=100&$select=id")]
    assert from_batch == direct

"""The one Graph `@odata.nextLink` pager: every collection read, delta round and `$batch` answer
with more pages goes through `pages` (or `items`).

https://learn.microsoft.com/graph/paging: "the URL in the @odata.nextLink ... contains all the
query parameters of the original request"; use it as returned ("you should not try to extract the
$skiptoken or $skip value and use it in a different request"), until a page has none. A page may
hold no items and still carry a nextLink (delta rounds do:
https://learn.microsoft.com/graph/delta-query-overview), so an empty page never ends the loop.

Each page is one `GraphClient.call`, so a throttled (429) or failing page is retried by the
retrying transport like any request (shared/graph/retry.py); what is still failing after the
retries raises the typed GraphError, and the pages read so far stay with the caller.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

NEXT_LINK = "@odata.nextLink"
Page = dict[str, Any]


class Caller(Protocol):
    """What the pager needs of a client: `GraphClient.call` (json body, response)."""

    async def call(self, method: str, path_or_url: str) -> tuple[Any, Any]: ...


async def pages(client: Caller, start: str | Mapping[str, Any] | None) -> AsyncIterator[Page]:
    """Each page of a collection, first to last. `start` is the first request (a path relative to
    the Graph root, or an absolute URL such as a kept deltaLink), or a first page already read
    (the body of a `$batch` answer), or None (no pages). Each following page is a GET of the
    previous page's nextLink, exactly as Graph returned it."""
    page: Page
    if start is None:
        return
    if isinstance(start, str):
        data, _ = await client.call("GET", start)
        page = dict(data or {})
    else:
        page = dict(start)
    yield page
    while page.get(NEXT_LINK):
        data, _ = await client.call("GET", str(page[NEXT_LINK]))
        page = dict(data or {})
        yield page


async def items(client: Caller, start: str | Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The `value` rows of every page (see `pages`), in order."""
    rows: list[dict[str, Any]] = []
    async for page in pages(client, start):
        rows.extend(page.get("value") or [])
    return rows

"""The pager's rule (shared/graph/paging.py), for any shape of pages: every page once, in order,
each next page fetched by the previous page's nextLink exactly as given (absolute URL, query
untouched), empty pages with a nextLink not ending the round."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from shared.graph.paging import items, pages

ROOT = "https://graph.example/v1.0"


class Recorded:
    """Pages served by URL, recording each GET: what a client returns for a collection."""

    def __init__(self, bodies: list[list[int]]) -> None:
        # page n's nextLink carries an odd query on purpose: the pager must not rebuild it
        self.urls = [f"{ROOT}/things?$select=id&$skiptoken=t%2B{n}&x='a b'" for n in range(len(bodies))]
        self.pages = {
            url: {"value": [{"id": i} for i in body]}
            | ({"@odata.nextLink": self.urls[n + 1]} if n + 1 < len(bodies) else {})
            for n, (url, body) in enumerate(zip(self.urls, bodies, strict=True))
        }
        self.asked: list[str] = []

    async def call(self, method: str, path_or_url: str) -> tuple[Any, Any]:
        assert method == "GET"
        self.asked.append(path_or_url)
        return self.pages[path_or_url], None


page_bodies = st.lists(st.lists(st.integers(), max_size=4), min_size=1, max_size=6)


@given(page_bodies)
def test_every_page_once_in_order_by_its_next_link(bodies: list[list[int]]) -> None:
    client = Recorded(bodies)

    async def read() -> list[dict[str, Any]]:
        return [page async for page in pages(client, client.urls[0])]

    read_pages = asyncio.run(read())
    assert [[row["id"] for row in page["value"]] for page in read_pages] == bodies
    assert client.asked == client.urls


@given(page_bodies)
def test_a_first_page_already_read_is_not_fetched_again(bodies: list[list[int]]) -> None:
    client = Recorded(bodies)
    first = client.pages[client.urls[0]]
    rows = asyncio.run(items(client, first))
    assert [row["id"] for row in rows] == [i for body in bodies for i in body]
    assert client.asked == client.urls[1:]


def test_no_start_is_no_request() -> None:
    client = Recorded([[1]])
    assert asyncio.run(items(client, None)) == []
    assert client.asked == []

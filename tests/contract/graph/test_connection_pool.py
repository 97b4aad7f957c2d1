"""The Graph client keeps its connections for the next requests when more than 20 are in flight
(shared/pool.py: httpcore 1.0.x closes each idle connection once the pool holds more than its
keep-alive limit in total, so with httpx's defaults every request past the 20th opened a new
connection: in Azure a TLS handshake each, and outbound ports churned)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.contract.graph.conftest import make_gateway

IN_FLIGHT = 48


async def test_a_burst_of_requests_leaves_its_connections_open_for_the_next(sandbox: Any) -> None:
    gateway = make_gateway(sandbox, 0.0)
    try:
        client = gateway.client()
        pool = client.transport._inner._pool  # httpx's transport -> httpcore's pool

        async def burst() -> None:
            started = asyncio.Event()
            waiting = 0

            async def one() -> None:
                nonlocal waiting
                waiting += 1
                if waiting == IN_FLIGHT:
                    started.set()
                await started.wait()  # every request in flight together
                await client.call("GET", "/users?$top=1&$select=id")

            await asyncio.gather(*(one() for _ in range(IN_FLIGHT)))

        await burst()
        first = {id(c) for c in pool.connections}
        assert len(first) > 20, len(first)  # past httpx's default keep-alive limit, all kept
        await burst()
        opened = {id(c) for c in pool.connections} - first
        assert len(opened) <= IN_FLIGHT - len(first) + 2, (len(first), len(opened))
    finally:
        await gateway.aclose()

"""A burst of team creations through the real gateway against a Graph sandbox at Graph's own time
scale, which applies Graph's POST /teams limit (10 per second per app per tenant): paced, none of
them is throttled; unpaced, the same burst is (so the test can fail)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.graph import Gateway
from shared.settings import GraphSettings
from tests.contract.graph.conftest import make_gateway


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Graph's own windows (scale 1): 10 team creations per second."""
    from local.graph.testing import running_graph_sandbox

    db = Path(tmp_path_factory.mktemp("graph")) / "graph.sqlite"
    with running_graph_sandbox(db, scale=1.0, async_delay=0.05) as graph:
        yield graph


async def _burst(gateway: Gateway, owner: str, prefix: str, n: int) -> list[str]:
    try:
        return list(
            await asyncio.gather(
                *(gateway.create_team(display_name=f"{prefix} {i:03d}", owner_id=owner) for i in range(n))
            )
        )
    finally:
        await gateway.aclose()


@pytest.mark.parametrize(("paced", "prefix"), [(True, "Paced"), (False, "Unpaced")])
async def test_a_burst_of_team_creations_is_throttled_only_when_not_paced(
    sandbox: Any, people: list[dict[str, Any]], paced: bool, prefix: str
) -> None:
    sandbox.reset_counters()
    rate = GraphSettings().team_creates_per_second if paced else 0.0
    created = await _burst(make_gateway(sandbox, rate), people[0]["id"], prefix, 16)
    assert len(set(created)) == 16  # every team made once, none twice
    by_status = sandbox.counters()["requests"]["POST /teams"]
    throttled = int(by_status.get("429", 0))
    if paced:
        assert throttled == 0, by_status
    else:
        assert throttled > 0, by_status  # the sandbox does throttle this burst

"""Issue #17: a Graph id is one URL path segment, whatever it contains (real gateway, sandbox)."""

from __future__ import annotations

from typing import Any

from shared.graph import Gateway
from shared.graph.errors import GraphError


async def test_a_team_id_with_a_path_and_query_cannot_rewrite_the_batch_request(
    gateway: Gateway, people: list[dict[str, Any]]
) -> None:
    team_id = await gateway.create_team(display_name="Store 9901", owner_id=people[0]["id"])
    injected = f"{team_id}/members?$top=1#"
    try:
        state = await gateway.get_team_state(injected)
    except GraphError:
        state = None  # refused by Graph: also fine, as long as nothing of the real team came back
    assert state is None
    real = await gateway.get_team_state(team_id)
    assert real is not None and real.display_name == "Store 9901"

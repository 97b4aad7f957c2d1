"""Channels: list and create (idempotent: an existing name is "already there").

Permission: Channel.Create (create), Channel.ReadBasic.All (list).
https://learn.microsoft.com/en-us/graph/api/channel-post (displayName ≤ 50 characters)
"""

from __future__ import annotations

from shared.domain.ids import segment
from shared.domain.teams import Channel
from shared.graph.client import GraphClient
from shared.graph.errors import Conflict
from shared.graph.teams import channel_from

MAX_NAME = 50


def channel_body(name: str, description: str = "") -> dict[str, str]:
    if not name or len(name) > MAX_NAME:
        raise ValueError(f"channel name must be 1..{MAX_NAME} characters: {name!r}")
    return {"displayName": name, "description": description, "membershipType": "standard"}


async def list_channels(client: GraphClient, team_id: str) -> list[Channel]:
    page, _ = await client.call("GET", f"teams/{segment(team_id)}/channels")
    return [channel_from(c) for c in page.get("value", [])]


async def create_channel(
    client: GraphClient, team_id: str, name: str, description: str = ""
) -> tuple[Channel, bool]:
    """(channel, created). A duplicate name answers 409, which means it already exists."""
    try:
        data, _ = await client.call(
            "POST", f"teams/{segment(team_id)}/channels", channel_body(name, description)
        )
    except Conflict:
        return Channel(name=name), False
    return channel_from(data), True

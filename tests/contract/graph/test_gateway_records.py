"""Tabs, installed apps and channel files through the gateway against the Graph sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from shared.graph import Gateway
from shared.graph.errors import BadRequest
from shared.graph.records import share_id

D365 = "cd2d8695-bdc9-4d8e-9620-cc963ed81f41"


async def _team_with_channel(gateway: Gateway, owner: str, name: str) -> tuple[str, str]:
    team_id = await gateway.create_team(display_name=name, owner_id=owner)
    channel, _ = await gateway.create_channel(team_id, "Contoso")
    assert channel.id is not None
    return team_id, channel.id


async def test_a_tab_needs_its_app_installed_in_the_team_first(
    gateway: Gateway, people: list[dict[str, Any]]
) -> None:
    team_id, channel_id = await _team_with_channel(gateway, people[0]["id"], "Records 1")
    with pytest.raises(BadRequest):
        await gateway.create_tab(
            team_id,
            channel_id,
            app_id=D365,
            name="Contoso",
            entity_id="e",
            content_url="https://x",
            website_url="https://x",
        )
    assert await gateway.install_app(team_id, D365) is True
    assert await gateway.install_app(team_id, D365) is False  # already installed: 409 -> False
    assert D365 in await gateway.installed_app_ids(team_id)
    tab = await gateway.create_tab(
        team_id,
        channel_id,
        app_id=D365,
        name="Contoso",
        entity_id="account:1",
        content_url="https://c",
        website_url="https://w",
    )
    [listed] = await gateway.list_tabs(team_id, channel_id)
    assert listed.id == tab.id and listed.app_id == D365 and listed.entity_id == "account:1"
    assert await gateway.delete_tab(team_id, channel_id, tab.id) is True
    assert await gateway.delete_tab(team_id, channel_id, tab.id) is False
    assert await gateway.list_tabs(team_id, channel_id) == []


async def test_files_uploaded_in_a_channel_are_listed_at_its_folder_url(
    gateway: Gateway, sandbox: Any, people: list[dict[str, Any]]
) -> None:
    team_id, channel_id = await _team_with_channel(gateway, people[0]["id"], "Records 2")
    folder = await gateway.files_folder(team_id, channel_id)
    assert (
        folder.name == "Contoso"
        and folder.web_url.endswith("/Shared%20Documents/Contoso")
        and folder.drive_id
    )
    assert await gateway.files_at(folder.web_url) == []
    sandbox.act("upload-file", teamId=team_id, channelId=channel_id, name="offer.docx", content="x")
    [f] = await gateway.files_at(folder.web_url) or []
    assert f.name == "offer.docx" and f.size == 1
    assert (await gateway.files_folder(team_id, channel_id)).id == folder.id  # one folder per channel
    assert await gateway.files_at(folder.web_url + "-nothing") is None
    assert share_id("https://a/b").startswith("u!") and "=" not in share_id("https://a/b")


async def test_a_channel_deleted_by_a_person_takes_its_tabs_but_keeps_its_files(
    gateway: Gateway, sandbox: Any, people: list[dict[str, Any]]
) -> None:
    team_id, channel_id = await _team_with_channel(gateway, people[0]["id"], "Records 3")
    await gateway.install_app(team_id, D365)
    await gateway.create_tab(
        team_id,
        channel_id,
        app_id=D365,
        name="t",
        entity_id="e",
        content_url="https://c",
        website_url="https://w",
    )
    folder = await gateway.files_folder(team_id, channel_id)
    sandbox.act("upload-file", teamId=team_id, channelId=channel_id, name="kept.pdf")
    sandbox.act("delete-channel", teamId=team_id, channelId=channel_id)
    assert channel_id not in {c.id for c in await gateway.list_channels(team_id)}
    assert [f.name for f in await gateway.files_at(folder.web_url) or []] == [
        "kept.pdf"
    ]  # SharePoint keeps them


async def test_a_private_channel_keeps_its_files_on_its_own_site(
    gateway: Gateway, people: list[dict[str, Any]]
) -> None:
    team_id = await gateway.create_team(display_name="Records 4", owner_id=people[0]["id"])
    data, _ = await gateway.client().call(
        "POST",
        f"teams/{team_id}/channels",
        {
            "displayName": "Board",
            "membershipType": "private",
            "members": [
                {
                    "@odata.type": "#microsoft.graph.aadUserConversationMember",
                    "roles": ["owner"],
                    "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{people[0]['id']}')",
                }
            ],
        },
    )
    general = await gateway.files_folder(
        team_id, next(c.id for c in await gateway.list_channels(team_id) if c.name == "General")
    )  # type: ignore[arg-type]
    private = await gateway.files_folder(team_id, data["id"])
    assert private.drive_id != general.drive_id and "-Board/" in private.web_url

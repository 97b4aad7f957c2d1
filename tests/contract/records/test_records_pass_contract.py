"""The records pass with the real Dataverse client and Graph gateway against both sandboxes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from local.dataverse.testing import running_dataverse_sandbox
from local.graph.testing import running_graph_sandbox
from shared.records import parse_template
from shared.records.records_pass import records_pass
from shared.settings import DataverseSettings, RecordsSettings, Settings
from shared.state import StateStore
from shared.state.sqlite import SqliteBackend
from tests.contract.records.records_world import (
    account,
    dataverse_for,
    files_on,
    gateway_for,
    new_account,
    opportunity,
    seed_people,
    tabs_in,
    template,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = Path(tmp_path_factory.mktemp("records"))
    with (
        running_graph_sandbox(tmp / "graph.sqlite", scale=0.02, throttle=False) as graph,
        running_dataverse_sandbox(seed=3) as dv,
    ):
        people = seed_people(graph, dv)
        yield {"graph": graph, "sandbox": dv, "people": people, "tmp": tmp}


@pytest.fixture
async def ctx(world: dict[str, Any], tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    gw = gateway_for(world["graph"])
    adopted = await gw.create_team(
        display_name="Sales West", owner_id=world["people"]["entra:ana@contoso.example"]
    )
    dv = dataverse_for(world["sandbox"])
    state = StateStore(SqliteBackend(tmp_path / "state.sqlite"))
    settings = Settings(
        dataverse=DataverseSettings(base_url=world["sandbox"].base_url),
        records=RecordsSettings(enabled=True, template=template(adopted)),
    )

    async def run(account_id: str) -> Any:
        return await records_pass(
            account_id,
            dataverse=dv,
            gateway=gw,
            state=state,
            settings=settings,  # type: ignore[arg-type]
            template=parse_template(settings.records.template),
        )

    yield {"gw": gw, "dv": dv, "state": state, "run": run, "adopted": adopted, **world}
    await dv.aclose()
    await gw.aclose()
    await state.close()


async def test_team_based_connects_account_and_open_opportunities_to_one_channel(ctx: dict[str, Any]) -> None:
    acc, (o1, o2) = new_account(
        ctx["sandbox"], ctx["people"], "Contoso", opportunities=[("Renewal", 10), ("Upsell", 20)]
    )
    first = await ctx["run"](acc)
    assert first.outcome == "changed" and all(op["reason"] for op in first.operations)
    again = await ctx["run"](acc)
    assert again.outcome == "converged" and again.operations == []
    gw, dv = ctx["gw"], ctx["dv"]
    assert await tabs_in(gw, ctx["adopted"], "Contoso") == sorted(
        [f"account:{acc}", f"opportunity:{o1}", f"opportunity:{o2}"]
    )
    channel = next(c for c in await gw.list_channels(ctx["adopted"]) if c.name == "Contoso")
    general = next(c for c in await gw.list_channels(ctx["adopted"]) if c.name == "General")
    ctx["graph"].act("upload-file", teamId=ctx["adopted"], channelId=channel.id, name="plan.xlsx")
    ctx["graph"].act("upload-file", teamId=ctx["adopted"], channelId=general.id, name="unrelated.txt")
    for ref in (account(acc), opportunity(o1), opportunity(o2)):
        assert await files_on(ref, dv, gw) == {"plan.xlsx"}
    [row] = [r for r in await dv.collaborations([acc])]
    assert row.channel_id == channel.id and row.team_id == ctx["adopted"]


async def test_a_channel_deleted_in_teams_loses_its_locations_and_is_reported(ctx: dict[str, Any]) -> None:
    acc, (o1,) = new_account(ctx["sandbox"], ctx["people"], "Fabrikam", opportunities=[("Pilot", 10)])
    await ctx["run"](acc)
    gw, dv = ctx["gw"], ctx["dv"]
    channel = next(c for c in await gw.list_channels(ctx["adopted"]) if c.name == "Fabrikam")
    ctx["graph"].act("delete-channel", teamId=ctx["adopted"], channelId=channel.id)
    result = await ctx["run"](acc)
    assert any("deleted in Teams" in p for p in result.problems)
    assert await dv.locations([account(acc), opportunity(o1)]) == []
    assert await dv.collaborations([acc, o1]) == []
    after = await ctx["run"](acc)  # not re-created: a person deleted it
    assert after.outcome == "converged"
    assert "Fabrikam" not in {c.name for c in await gw.list_channels(ctx["adopted"])}


async def test_account_based_gives_each_opportunity_its_own_channel_and_disconnects_a_won_one(
    ctx: dict[str, Any],
) -> None:
    acc, (o1, o2) = new_account(
        ctx["sandbox"],
        ctx["people"],
        "Tailspin",
        revenue=5_000_000,
        opportunities=[("Fleet", 10), ("Service", 20)],
    )
    await ctx["run"](acc)
    gw, dv = ctx["gw"], ctx["dv"]
    [team] = [t for t in await gw.find_teams(display_name="Tailspin") if t.display_name == "Tailspin"]
    channels = {c.name: c for c in await gw.list_channels(team.team_id)}
    assert set(channels) == {"General", "Fleet", "Service"}
    assert await tabs_in(gw, team.team_id, "General") == [f"account:{acc}"]
    ctx["graph"].act("upload-file", teamId=team.team_id, channelId=channels["Fleet"].id, name="fleet.pdf")
    assert await files_on(opportunity(o1), dv, gw) == {"fleet.pdf"}
    assert await files_on(opportunity(o2), dv, gw) == set()
    assert await files_on(account(acc), dv, gw) == set()
    members = {m.user_id for m in (await gw.get_team_state(team.team_id)).members}  # type: ignore[union-attr]
    assert ctx["people"]["entra:ben@contoso.example"] in members  # opportunity owners are members
    ctx["sandbox"].change("win", "opportunity", o1)
    await ctx["run"](acc)
    assert await files_on(opportunity(o1), dv, gw) == set()
    assert await tabs_in(gw, team.team_id, "Fleet") == []
    assert "Fleet" in {c.name for c in await gw.list_channels(team.team_id)}  # the channel is left


async def test_project_based_connects_account_on_general_and_never_gives_guests_a_record_tab(
    ctx: dict[str, Any],
) -> None:
    acc, (big,) = new_account(
        ctx["sandbox"], ctx["people"], "Northwind", team=False, opportunities=[("Plant build", 900_000)]
    )
    await ctx["run"](acc)
    gw = ctx["gw"]
    [team] = [t for t in await gw.find_teams(display_name="Plant build (Northwind)")]
    assert await tabs_in(gw, team.team_id, "General") == sorted([f"account:{acc}", f"opportunity:{big}"])
    assert await tabs_in(gw, team.team_id, "Proposal") == [f"opportunity:{big}"]
    assert await tabs_in(gw, team.team_id, "Partners") == []
    state = await gw.get_team_state(team.team_id)
    assert state is not None
    guest = ctx["people"]["entra:guest@partner.example"]
    assert guest in {m.user_id for m in state.members}  # chat and files...
    assert guest not in state.owners  # ...never an owner
    ctx["sandbox"].change("win", "opportunity", big)
    await ctx["run"](acc)
    assert (await gw.get_team_state(team.team_id)).archived  # type: ignore[union-attr]
    assert await tabs_in(gw, team.team_id, "General") == sorted([f"account:{acc}", f"opportunity:{big}"])

"""Teams through the gateway against the Graph sandbox: creation, members, channels, archive."""

from __future__ import annotations

from typing import Any

from shared.domain.teams import MemberRole
from shared.graph import Gateway, NotFound
from tests.contract.graph.conftest import route_counts


async def test_team_is_created_with_its_owner_in_one_call_then_polled(
    gateway: Gateway, sandbox: Any, people: list[dict[str, Any]]
) -> None:
    sandbox.reset_counters()
    team_id = await gateway.create_team(display_name="Store 0001", description="d", owner_id=people[0]["id"])
    counts = route_counts(sandbox.counters())
    assert counts["POST /teams"] == 1
    assert counts["GET /teams/{id}/operations/{opId}"] >= 1
    state = await gateway.get_team_state(team_id)
    assert state is not None and state.display_name == "Store 0001"
    assert state.owners == {people[0]["id"]}
    assert any(c.name == "General" for c in state.channels)


async def test_partial_members_add_reports_each_refused_user(
    gateway: Gateway, people: list[dict[str, Any]]
) -> None:
    team_id = await gateway.create_team(display_name="Store 0002", owner_id=people[0]["id"])
    ghost = "00000000-0000-0000-0000-00000000dead"
    failures = await gateway.add_members(
        team_id,
        [
            (people[1]["id"], MemberRole.MEMBER),
            (ghost, MemberRole.MEMBER),
            (people[2]["id"], MemberRole.OWNER),
        ],
    )
    assert [(f.user_id, f.code) for f in failures] == [(ghost, "NotFound")]
    members = {m.user_id: m.role for m in await gateway.list_members(team_id)}
    assert members[people[1]["id"]] is MemberRole.MEMBER and members[people[2]["id"]] is MemberRole.OWNER


async def test_role_change_and_removal_use_membership_ids(
    gateway: Gateway, people: list[dict[str, Any]]
) -> None:
    team_id = await gateway.create_team(display_name="Store 0003", owner_id=people[0]["id"])
    await gateway.add_members(
        team_id, [(people[3]["id"], MemberRole.MEMBER), (people[4]["id"], MemberRole.MEMBER)]
    )
    await gateway.set_role(team_id, MemberRole.OWNER, user_id=people[3]["id"])
    await gateway.remove_member(team_id, user_id=people[4]["id"])
    members = {m.user_id: m.role for m in await gateway.list_members(team_id)}
    assert members == {people[0]["id"]: MemberRole.OWNER, people[3]["id"]: MemberRole.OWNER}


async def test_creating_an_existing_channel_is_idempotent(
    gateway: Gateway, people: list[dict[str, Any]]
) -> None:
    team_id = await gateway.create_team(display_name="Store 0004", owner_id=people[0]["id"])
    channel, created = await gateway.create_channel(team_id, "Shift swaps")
    _, created_again = await gateway.create_channel(team_id, "Shift swaps")
    assert created and not created_again and channel.id
    assert [c.name for c in await gateway.list_channels(team_id)].count("Shift swaps") == 1


async def test_archive_and_unarchive_wait_for_their_operations(
    gateway: Gateway, people: list[dict[str, Any]]
) -> None:
    team_id = await gateway.create_team(display_name="Store 0005", owner_id=people[0]["id"])
    await gateway.archive_team(team_id)
    assert (await gateway.get_team(team_id)).archived  # type: ignore[union-attr]
    await gateway.unarchive_team(team_id)
    assert not (await gateway.get_team(team_id)).archived  # type: ignore[union-attr]


async def test_update_and_find_team_for_adoption(gateway: Gateway, people: list[dict[str, Any]]) -> None:
    team_id = await gateway.create_team(display_name="Store 0006", owner_id=people[0]["id"])
    await gateway.update_team(team_id, display_name="Store 0006 (Mall)", description="moved")
    found = await gateway.find_teams(display_name="Store 0006 (Mall)")
    assert [t.team_id for t in found] == [team_id] and found[0].description == "moved"
    assert await gateway.get_team("11111111-1111-1111-1111-111111111111") is None
    assert await gateway.get_team_state("11111111-1111-1111-1111-111111111111") is None


async def test_users_resolve_by_upn_and_employee_id_in_batches(
    gateway: Gateway, sandbox: Any, people: list[dict[str, Any]]
) -> None:
    sandbox.reset_counters()
    upns = [p["userPrincipalName"] for p in people[:45]] + ["nobody@contoso.com", "P46@Contoso.COM"]
    found = await gateway.resolve_upns(upns)
    assert len(found) == 46 and found["p7@contoso.com"].user_id == people[7]["id"]
    assert found["P46@Contoso.COM"].user_id == people[46]["id"]  # the directory ignores case
    # 47 UPNs: 4 requests of at most 15 (`userPrincipalName in (...)`), all in one $batch call.
    assert route_counts(sandbox.counters()) == {"POST /$batch": 1, "GET /users": 4}
    # Object ids are looked up by id, in the same batch as UPNs.
    mixed = await gateway.resolve_upns(
        [people[300]["id"], "p301@contoso.com", "0" * 8 + "-0000-4000-8000-" + "0" * 12]
    )
    assert {k: v.user_id for k, v in mixed.items()} == {
        people[300]["id"]: people[300]["id"],
        "p301@contoso.com": people[301]["id"],
    }
    # 400 people: 27 requests of 15, two $batch calls (20 + 7).
    sandbox.reset_counters()
    many = await gateway.resolve_upns([p["userPrincipalName"] for p in people[:400]])
    assert len(many) == 400 and route_counts(sandbox.counters()) == {"POST /$batch": 2, "GET /users": 27}
    by_employee = await gateway.resolve_employee_ids(["000009", "999999"])
    assert by_employee == {"000009": found["p9@contoso.com"]}


async def test_concurrent_look_ups_share_their_requests(
    gateway: Gateway, sandbox: Any, people: list[dict[str, Any]]
) -> None:
    """25 passes looking up their 18 people at once: 450 people in two calls (16 passes' 288, then
    9 passes' 162: 20 + 11 requests of at most 15), not 25 calls of 2 requests; each pass gets its
    own people and no one else's."""
    import asyncio

    teams = [[p["userPrincipalName"] for p in people[i * 18 : (i + 1) * 18]] for i in range(25)]
    sandbox.reset_counters()
    found = await asyncio.gather(*(gateway.resolve_upns(upns) for upns in teams))
    assert [sorted(f) for f in found] == [sorted(upns) for upns in teams]
    assert found[3]["p54@contoso.com"].user_id == people[54]["id"]
    assert route_counts(sandbox.counters()) == {"POST /$batch": 2, "GET /users": 31}


async def test_concurrent_adoption_checks_share_their_requests(
    gateway: Gateway, sandbox: Any, people: list[dict[str, Any]]
) -> None:
    """20 passes checking for a team of their name at once: 2 requests of at most 15 names in one
    call; each gets the teams of its own name only (the directory compares case-insensitively)."""
    import asyncio

    made = {
        n: await gateway.create_team(display_name=f"Store 07{n:02d}", owner_id=people[0]["id"])
        for n in (3, 9)
    }
    names = [f"Store 07{n:02d}" for n in range(20)]
    sandbox.reset_counters()
    found = await asyncio.gather(*(gateway.find_teams(display_name=name) for name in names))
    assert {names[i]: [t.team_id for t in f] for i, f in enumerate(found) if f} == {
        "Store 0703": [made[3]],
        "Store 0709": [made[9]],
    }
    assert route_counts(sandbox.counters()) == {"POST /$batch": 1, "GET /groups": 2}
    upper = await gateway.find_teams(display_name="STORE 0709")
    assert [t.display_name for t in upper] == ["Store 0709"]


async def test_sdk_surfaces_graph_status_codes_as_odata_errors(gateway: Gateway) -> None:
    """msgraph-sdk directly: the sandbox's error bodies parse into ODataError with code and status."""
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    from shared.graph.errors import from_sdk

    service = gateway.client().service
    try:
        await service.teams.by_team_id("22222222-2222-2222-2222-222222222222").get()
    except ODataError as exc:
        assert exc.response_status_code == 404
        assert exc.error is not None and exc.error.code
        assert isinstance(from_sdk(exc), NotFound)
    else:
        raise AssertionError("expected a 404")

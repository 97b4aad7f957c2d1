"""The records planner, checked by Hypothesis over random orgs, templates and messy Teams states."""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.records import Account, AccountScope, CrmUser, Opportunity, OpportunityState, RecordRef
from shared.records import apply, desired, plan
from shared.records.model import ActualRecords, DesiredRecords, TabState
from shared.records.plan import deleted_channels, same_url
from shared.records.template import AccountBased, ExtraChannel, OnClose, ProjectBased, TeamBased, Template

ACCOUNT = "0a000000-0000-0000-0000-000000000001"
USERS = {f"u{i}": CrmUser(id=f"u{i}", entra_object_id=f"e{i}") for i in range(4)}
DIRECTORY = {"legal@contoso.com": "e-legal", "partner@fabrikam.com": "e-guest"}


@st.composite
def scopes(draw: st.DrawFn) -> AccountScope:
    opps = tuple(
        Opportunity(
            id=f"0b000000-0000-0000-0000-{i:012d}",
            name=draw(st.sampled_from(["Deal", "Big deal", "Renewal", "Deal/2", "Deal"])),
            account_id=ACCOUNT,
            estimated_value=draw(st.sampled_from([1_000, 50_000, 900_000])),
            state=draw(st.sampled_from(list(OpportunityState))),
            owner_id=draw(st.sampled_from([*USERS, None])),
        )
        for i in range(draw(st.integers(0, 5)))
    )
    account = Account(
        id=ACCOUNT,
        name=draw(st.sampled_from(["Contoso", "Fabrikam: East", "A. Datum"])),
        revenue=draw(st.sampled_from([None, 10_000, 5_000_000])),
        top_account=draw(st.booleans()),
        active=draw(st.booleans()) or True,
        owner_id=draw(st.sampled_from([*USERS, None])),
        owning_team_id=draw(st.sampled_from(["dt-sales", "dt-other", None])),
    )
    return AccountScope(account=account, account_id=ACCOUNT, opportunities=opps, users=USERS)


@st.composite
def templates(draw: st.DrawFn) -> Template:
    patterns: list[object] = []
    if draw(st.booleans()):
        patterns.append(
            ProjectBased(
                kind="project_based",
                min_estimated_value=500_000,
                members=("legal@contoso.com",),
                guests=("partner@fabrikam.com",),
                extra_channels=(
                    ExtraChannel(name="Proposal", connected=draw(st.booleans())),
                    ExtraChannel(name="Partners", connected=False, guests=True),
                ),
                on_close=draw(st.sampled_from(list(OnClose))),
            )
        )
    if draw(st.booleans()):
        patterns.append(
            AccountBased(
                kind="account_based",
                min_revenue=1_000_000,
                on_close=draw(st.sampled_from([OnClose.KEEP, OnClose.DISCONNECT])),
            )
        )
    patterns.append(TeamBased(kind="team_based", teams={"dt-sales": "adopted-team"}))
    return Template(patterns=tuple(patterns))  # type: ignore[arg-type]


def adopted_world() -> ActualRecords:
    from shared.records.model import ChannelState, TeamState

    general = ChannelState(id="adopted-general", name="General", folder_url="https://sp/adopted/General")
    return ActualRecords(
        teams={"team:adopted-team": TeamState("team:adopted-team", "adopted-team", (general,))}
    )


@st.composite
def worlds(draw: st.DrawFn) -> tuple[DesiredRecords, ActualRecords]:
    """A desired state and an actual one left by an earlier, different template plus a person's
    edits in Teams (channels deleted, duplicate tabs)."""
    scope = draw(scopes())
    before = desired(draw(scopes()), draw(templates()), DIRECTORY)
    actual = apply(plan(before, adopted_world()), adopted_world())
    if draw(st.booleans()) and actual.tabs:  # a person adds the same record tab again
        t = actual.tabs[0]
        actual = dataclasses.replace(
            actual, tabs=(*actual.tabs, TabState(t.team_id, t.channel_id, "dup-tab", t.record))
        )
    for key, ts in list(actual.teams.items()):  # a person deletes a channel
        victims = [c for c in ts.channels if c.name != "General"]
        if victims and draw(st.booleans()):
            gone = victims[0]
            actual = dataclasses.replace(
                actual,
                teams={
                    **actual.teams,
                    key: dataclasses.replace(ts, channels=tuple(c for c in ts.channels if c is not gone)),
                },
                tabs=tuple(t for t in actual.tabs if t.channel_id != gone.id),
            )
    return desired(scope, draw(templates()), DIRECTORY), actual


def connections(actual: ActualRecords) -> set[tuple[RecordRef, str, str]]:
    return {(t.record, t.team_id, t.channel_id) for t in actual.tabs}


PROPS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(worlds())
def test_applying_the_plan_yields_the_desired_connections(
    world: tuple[DesiredRecords, ActualRecords],
) -> None:
    want, actual = world
    after = apply(plan(want, actual), actual)
    gone = deleted_channels(actual)
    guest = {(t.key, c.name) for t in want.teams.values() for c in t.channels if c.guests}
    expected = set()
    for c in want.connections:
        ts = after.teams.get(c.team_key)
        if ts is None or f"{c.team_key}/{c.channel}" in gone or (c.team_key, c.channel) in guest:
            continue
        ch = ts.channel(c.channel)
        assert ch is not None, c
        expected.add((c.record, ts.team_id, ch.id))
        assert any(r.regarding == c.record and r.channel_id == ch.id for r in after.rows)
        if not ch.private:
            assert any(
                loc.regarding == c.record and same_url(loc.absolute_url, ch.folder_url or "")
                for loc in after.locations
            )
    assert connections(after) == expected
    assert {(r.regarding, r.team_id, r.channel_id) for r in after.rows} == expected


@PROPS
@given(worlds())
def test_planning_again_is_empty(world: tuple[DesiredRecords, ActualRecords]) -> None:
    want, actual = world
    after = apply(plan(want, actual), actual)
    assert plan(want, after).operations == ()


@PROPS
@given(worlds())
def test_no_record_keeps_a_location_of_a_missing_channel(world: tuple[DesiredRecords, ActualRecords]) -> None:
    want, actual = world
    after = apply(plan(want, actual), actual)
    folders = [c.folder_url for ts in after.teams.values() for c in ts.channels if c.folder_url]
    for loc in after.locations:
        assert any(same_url(loc.absolute_url, f) for f in folders), loc


@PROPS
@given(worlds())
def test_a_channel_never_gets_two_tabs_for_one_record(world: tuple[DesiredRecords, ActualRecords]) -> None:
    want, actual = world
    after = apply(plan(want, actual), actual)
    pairs = [(t.channel_id, t.record) for t in after.tabs]
    assert len(pairs) == len(set(pairs))


@PROPS
@given(worlds())
def test_guests_never_get_a_record_tab(world: tuple[DesiredRecords, ActualRecords]) -> None:
    want, actual = world
    after = apply(plan(want, actual), actual)
    guest_channels = {
        ts.channel(c.name).id  # type: ignore[union-attr]
        for t in want.teams.values()
        for c in t.channels
        if c.guests and (ts := after.teams.get(t.key)) is not None and ts.channel(c.name) is not None
    }
    assert not any(t.channel_id in guest_channels for t in after.tabs)
    for t in want.teams.values():  # guests are members, never owners
        assert not set(t.guests) & set(t.owners)

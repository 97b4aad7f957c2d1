"""Licences before teams: a would-be owner without a Teams licence is never made an owner (team
creation, added owner, promotion), is not demoted either, and a store whose managers are all
unlicensed is reported blocked with that reason instead of failing its pass."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from provisioning_builders import SETTINGS, TODAY, actual, at, identities, org, run, store, team, uid
from test_provisioning_properties import orgs, provisioning_settings

from shared.domain import (
    ActualState,
    AddMembers,
    CreateTeam,
    Identity,
    MemberRole,
    ProblemKind,
    RemoveMember,
    SetRole,
)
from shared.provisioning import desired, plan
from shared.provisioning.desired import COMMUNICATIONS_KEY

S42 = "store:0042"


def _unlicensed(idents: dict[str, Identity], *pns: str) -> dict[str, Identity]:
    return {pn: i.model_copy(update={"teams_licensed": pn not in pns}) for pn, i in idents.items()}


def test_store_whose_only_manager_has_no_licence_is_blocked_with_that_reason() -> None:
    the_org = org([store("0042")], [at("100", "0042", manager=True), at("200", "0042")])
    want, p = run(the_org, _unlicensed(identities("100", "200"), "100"))
    assert want.teams == {}
    [problem] = want.problems
    assert problem.kind is ProblemKind.BLOCKED_NO_LICENCE and problem.store == "0042"
    assert "manager 100 has no Microsoft Teams licence" in problem.detail
    assert "Failed to retrieve appliable Sku categories for the user" in problem.detail
    assert p.operations == ()


def test_unlicensed_manager_is_a_member_while_a_licensed_one_owns_the_team() -> None:
    the_org = org(
        [store("0042")], [at("100", "0042", manager=True), at("101", "0042", manager=True), at("200", "0042")]
    )
    want, p = run(the_org, _unlicensed(identities("100", "101", "200"), "101"))
    t = want.teams[S42]
    assert t.owners == {uid("100")} and t.members == {uid("101"), uid("200")}
    assert t.unlicensed_owners == {uid("101")}
    assert "no Teams licence: member, not owner" in t.why[uid("101")]
    create = p.operations[0]
    assert isinstance(create, CreateTeam) and create.first_owner == uid("100")
    assert not any(isinstance(op, AddMembers) and uid("101") in op.user_ids and op.role is MemberRole.OWNER
                   for op in p.operations)  # fmt: skip
    assert want.problems == ()


def test_owner_who_lost_the_licence_is_kept_not_demoted_and_a_member_is_not_promoted() -> None:
    the_org = org(
        [store("0042")],
        [at("100", "0042", manager=True), at("101", "0042", manager=True), at("102", "0042", manager=True)],
        mappings={"0042": "T1"},
    )
    idents = _unlicensed(identities("100", "101", "102"), "101", "102")
    have = actual(store_0042=team("T1", owners=[uid("100"), uid("101")], members=[uid("102")]))
    want = desired(the_org, SETTINGS, idents, TODAY)
    p = plan(want, have, SETTINGS)
    assert [op for op in p.operations if isinstance(op, SetRole)] == []


def test_mapped_team_whose_managers_all_lost_the_licence_keeps_its_owners_and_says_why() -> None:
    the_org = org([store("0042")], [at("100", "0042", manager=True)], mappings={"0042": "T1"})
    idents = _unlicensed(identities("100"), "100")
    have = actual(store_0042=team("T1", owners=[uid("100")]))
    want = desired(the_org, SETTINGS, idents, TODAY)
    p = plan(want, have, SETTINGS)
    [problem] = [x for x in p.problems if x.kind is ProblemKind.BLOCKED_NO_LICENCE]
    assert "keeps its current owners" in problem.detail
    assert [op.op for op in p.operations if isinstance(op, (SetRole, RemoveMember, AddMembers))] == []


def test_licence_unknown_or_check_off_means_owner_as_before() -> None:
    the_org = org([store("0042")], [at("100", "0042", manager=True)])
    unknown = identities("100")  # teams_licensed None: not looked up
    assert desired(the_org, SETTINGS, unknown, TODAY).teams[S42].owners == {uid("100")}
    off = SETTINGS.model_copy(update={"require_teams_licence": False})
    idents = _unlicensed(identities("100"), "100")
    assert desired(the_org, off, idents, TODAY).teams[S42].owners == {uid("100")}


def test_communications_team_without_a_licensed_communications_manager_is_blocked() -> None:
    the_org = org([], comms=["300"])
    s = SETTINGS.model_copy(update={"communications_team_enabled": True})
    want = desired(the_org, s, _unlicensed(identities("300"), "300"), TODAY)
    assert str(COMMUNICATIONS_KEY) not in want.teams
    assert [p.kind for p in want.problems] == [ProblemKind.BLOCKED_NO_LICENCE]


@settings(max_examples=150, deadline=None)
@given(orgs(), provisioning_settings, st.data())
def test_no_plan_ever_makes_an_unlicensed_user_an_owner(org_and_ids, s, data) -> None:  # type: ignore[no-untyped-def]
    the_org, idents = org_and_ids
    lacking = set(data.draw(st.lists(st.sampled_from(sorted(idents) or ["none"]), unique=True)))
    idents = {pn: i.model_copy(update={"teams_licensed": pn not in lacking}) for pn, i in idents.items()}
    unlicensed_users = {idents[pn].user_id for pn in lacking if pn in idents}
    want = desired(the_org, s, idents, TODAY)
    p = plan(want, ActualState(), s)
    for op in p.operations:
        if isinstance(op, CreateTeam):
            assert op.first_owner not in unlicensed_users
        if isinstance(op, AddMembers) and op.role is MemberRole.OWNER:
            assert not set(op.user_ids) & unlicensed_users
        if isinstance(op, SetRole) and op.role is MemberRole.OWNER:
            assert op.user_id not in unlicensed_users
    for key, t in want.teams.items():
        assert not t.owners & unlicensed_users, key

"""The plan: smallest idempotent operations from actual to desired, with reasons and safety rails."""

from __future__ import annotations

from datetime import date

import pytest
from provisioning_builders import SETTINGS, actual, at, identities, org, run, store, synced, team, uid, worker

from shared.domain import (
    ActualState,
    ActualTeam,
    AddMembers,
    AdoptTeam,
    ArchiveTeam,
    CreateChannel,
    CreatePlan,
    CreateTeam,
    MemberRole,
    ProblemKind,
    RemoveMember,
    SetRole,
    TeamKey,
    UpdateTeam,
)
from shared.provisioning import SimulationError, apply, plan
from shared.settings import MembershipMode, ProvisioningSettings

S42 = "store:0042"
STRICT = SETTINGS.model_copy(update={"membership_mode": MembershipMode.STRICT})


def _staff(n: int, store_number: str = "0042") -> list[str]:
    return [f"{store_number}{i:02d}" for i in range(n)]


def test_new_store_team_is_created_with_first_owner_and_one_add_per_role() -> None:
    workers = _staff(250)
    the_org = org(
        [store("0042")],
        [at("100", "0042", manager=True), at("101", "0042", manager=True)]
        + [at(pn, "0042") for pn in workers],
    )
    settings = SETTINGS.model_copy(update={"channels": ["Announcements"]})
    _, p = run(the_org, identities("100", "101", *workers), settings=settings)
    ops = p.operations
    assert [type(op) for op in ops] == [CreateTeam, AddMembers, AddMembers, CreateChannel, CreatePlan]
    create, owners, members = ops[0], ops[1], ops[2]
    assert isinstance(create, CreateTeam) and create.first_owner == uid("100")
    assert (
        isinstance(owners, AddMembers)
        and owners.user_ids == (uid("101"),)
        and owners.role is MemberRole.OWNER
    )
    assert isinstance(members, AddMembers) and len(members.user_ids) == 250 and members.team_id is None
    assert members.reason.endswith("; and 245 more")
    assert create.reason == "no team yet for store 0042; first owner: store manager 100 at 0042"


def test_existing_team_is_adopted_never_duplicated() -> None:
    the_org = org(
        [store("0042")], [at("100", "0042", manager=True), at("200", "0042")], mappings={"0042": "T42"}
    )
    found = team("T42", [uid("100")], ["u-someone"], name="Old name")
    have = ActualState(teams={S42: ActualTeam(key=TeamKey.store("0042"), team=found, mapped=False)})
    _, p = run(the_org, identities("100", "200"), have)
    assert not any(isinstance(op, CreateTeam) for op in p.operations)
    assert isinstance(p.operations[0], AdoptTeam) and p.operations[0].team_id == "T42"
    add = next(op for op in p.operations if isinstance(op, AddMembers))
    assert add.team_id == "T42" and add.user_ids == (uid("200"),)
    assert not any(isinstance(op, RemoveMember) for op in p.operations)  # people found there are not ours
    after = apply(p, have, new_team_id=lambda key: "NEW")
    assert after.teams[S42].mapped and after.teams[S42].team.team_id == "T42"  # type: ignore[union-attr]


def test_team_the_app_already_mapped_is_never_created_again() -> None:
    the_org = org([store("0042")], [at("100", "0042", manager=True)])
    have = actual(store_0042=team("T-app", [uid("100")], name="Store 0042 (0042)"))
    _, p = run(the_org, identities("100"), have)
    assert not any(isinstance(op, CreateTeam | AdoptTeam) for op in p.operations)


def test_mapped_team_that_is_missing_is_blocked_not_recreated() -> None:
    the_org = org([store("0042")], [at("100", "0042", manager=True)], mappings={"0042": "T42"})
    _, p = run(the_org, identities("100"))
    assert p.operations == ()
    assert [x.kind for x in p.problems] == [ProblemKind.BLOCKED_MAPPED_TEAM_MISSING]


def test_transfer_moves_worker_between_teams() -> None:
    idents = identities("100", "101", "200")
    managers = [at("100", "0042", manager=True), at("101", "0043", manager=True)]
    stores = [store("0042"), store("0043")]
    have = synced(org(stores, [*managers, at("200", "0042")]), idents)
    _, p = run(org(stores, [*managers, at("200", "0042", active=False), at("200", "0043")]), idents, have)
    assert [(type(op), str(op.key)) for op in p.operations] == [
        (RemoveMember, S42),
        (AddMembers, "store:0043"),
    ]
    assert p.operations[0].reason == "no longer assigned to store 0042 in Commerce (added by the integration)"
    assert p.operations[1].reason == "worker 200 at 0043"


def test_role_change_promotes_to_owner() -> None:
    idents = identities("100", "200")
    have = synced(org([store("0042")], [at("100", "0042", manager=True), at("200", "0042")]), idents)
    the_org = org([store("0042")], [at("100", "0042", manager=True), at("200", "0042", manager=True)])
    _, p = run(the_org, idents, have)
    assert p.operations == (
        SetRole(
            key=TeamKey.store("0042"),
            team_id="T-store:0042",
            user_id=uid("200"),
            role=MemberRole.OWNER,
            reason="store manager 200 at 0042",
        ),
    )


def test_role_change_demotes_to_member() -> None:
    idents = identities("100", "200")
    have = synced(
        org([store("0042")], [at("100", "0042", manager=True), at("200", "0042", manager=True)]), idents
    )
    _, p = run(org([store("0042")], [at("100", "0042", manager=True), at("200", "0042")]), idents, have)
    [op] = p.operations
    assert isinstance(op, SetRole) and op.role is MemberRole.MEMBER and op.user_id == uid("200")
    assert op.reason == "worker 200 at 0042 (not an owner in Commerce)"


def test_flexible_mode_leaves_hand_added_members() -> None:
    the_org = org([store("0042")], [at("100", "0042", manager=True)])
    have = actual(
        store_0042=(
            team(
                "T42",
                [uid("100")],
                ["u-hand", "u-hand-owner"],
                name="Store 0042 (0042)",
                description="Store team for Store 0042 (0042), kept in sync with Commerce.",
            ),
            [uid("100")],
        )
    )
    _, p = run(the_org, identities("100"), have)
    assert p.operations == ()


def test_strict_mode_removes_hand_added_members() -> None:
    the_org = org([store("0042")], [at("100", "0042", manager=True)])
    have = actual(
        store_0042=(
            team(
                "T42",
                [uid("100"), "u-hand-owner"],
                ["u-hand"],
                name="Store 0042 (0042)",
                description="Store team for Store 0042 (0042), kept in sync with Commerce.",
            ),
            [uid("100")],
        )
    )
    _, p = run(the_org, identities("100"), have, settings=STRICT)
    assert [(type(op), op.user_id, op.reason) for op in p.operations if isinstance(op, RemoveMember)] == [
        (RemoveMember, "u-hand", "not in Commerce (strict membership)"),
        (RemoveMember, "u-hand-owner", "not in Commerce (strict membership)"),
    ]


def test_terminated_worker_added_by_hand_is_removed_even_in_flexible_mode() -> None:
    workers = [worker("100"), worker("300", terminated=date(2026, 11, 1))]
    the_org = org([store("0042")], [at("100", "0042", manager=True), at("300", "0042")], workers=workers)
    have = actual(store_0042=(team("T42", [uid("100")], [uid("300")]), [uid("100")]))
    _, p = run(the_org, identities("100", "300"), have)
    removal = next(op for op in p.operations if isinstance(op, RemoveMember))
    assert (removal.user_id, removal.reason) == (uid("300"), "terminated 2026-11-01 (worker 300)")


def test_last_owner_is_kept_and_reported() -> None:
    """The store's only manager leaves; nobody replaces them: the team keeps that owner."""
    idents = identities("100", "200")
    the_org = org(
        [store("0042")], [at("100", "0042", manager=True), at("200", "0042")], mappings={"0042": "T42"}
    )
    have = synced(the_org, idents)
    after = org(
        [store("0042")],
        [at("100", "0042", manager=True, active=False), at("200", "0042")],
        mappings={"0042": "T42"},
    )
    _, p = run(after, idents, have)
    assert not any(isinstance(op, RemoveMember | SetRole) for op in p.operations)
    kinds = {x.kind for x in p.problems}
    assert {ProblemKind.BLOCKED_LAST_OWNER, ProblemKind.BLOCKED_NO_OWNER} <= kinds
    last = next(x for x in p.problems if x.kind is ProblemKind.BLOCKED_LAST_OWNER)
    assert uid("100") in last.detail and "kept as owner" in last.detail


def test_last_owner_rule_prefers_keeping_a_demoted_owner() -> None:
    idents = identities("100", "200")
    the_org = org([store("0042")], [at("200", "0042")], mappings={"0042": "T42"})
    have = actual(store_0042=team("T42", [uid("100"), uid("200")], name="x"))
    _, p = run(the_org, idents, have)
    assert [(type(op), op.user_id) for op in p.operations if isinstance(op, RemoveMember | SetRole)] == [
        (RemoveMember, uid("100"))
    ]


def test_mass_removal_is_held() -> None:
    staff = _staff(10)
    idents = identities("100", *staff)
    have = synced(
        org([store("0042")], [at("100", "0042", manager=True)] + [at(pn, "0042") for pn in staff]), idents
    )
    emptied = org([store("0042")], [at("100", "0042", manager=True)] + [at(pn, "0042") for pn in staff[:4]])
    _, p = run(emptied, idents, have)
    assert p.operations == ()
    assert sum(isinstance(op, RemoveMember) for op in p.held) == 6
    [problem] = p.problems
    assert problem.kind is ProblemKind.HELD_MASS_REMOVAL and "removes 6 of 11" in problem.detail


def test_removal_within_the_ratio_goes_ahead() -> None:
    staff = _staff(10)
    idents = identities("100", *staff)
    have = synced(
        org([store("0042")], [at("100", "0042", manager=True)] + [at(pn, "0042") for pn in staff]), idents
    )
    fewer = org([store("0042")], [at("100", "0042", manager=True)] + [at(pn, "0042") for pn in staff[:5]])
    _, p = run(fewer, idents, have)
    assert sum(isinstance(op, RemoveMember) for op in p.operations) == 5 and p.held == ()


def test_small_team_is_not_guarded() -> None:
    idents = identities("100", "200", "201")
    have = synced(
        org([store("0042")], [at("100", "0042", manager=True), at("200", "0042"), at("201", "0042")]), idents
    )
    _, p = run(org([store("0042")], [at("100", "0042", manager=True)]), idents, have)
    assert sum(isinstance(op, RemoveMember) for op in p.operations) == 2 and p.held == ()


def test_mass_archive_is_held() -> None:
    numbers = [f"00{n:02d}" for n in range(7)]
    idents = identities(*(f"m{n}" for n in numbers))
    assignments = [at(f"m{n}", n, manager=True) for n in numbers]
    mappings = {n: f"T-store:{n}" for n in numbers}
    have = synced(org([store(n) for n in numbers], assignments, mappings=mappings), idents)
    closed = org([store(n, closed=True) for n in numbers], assignments, mappings=mappings)
    _, p = run(closed, idents, have)
    assert p.operations == () and len(p.held) == 7 and all(isinstance(op, ArchiveTeam) for op in p.held)
    assert {x.kind for x in p.problems} == {ProblemKind.HELD_MASS_ARCHIVE}
    few = org([store(n, closed=n in numbers[:5]) for n in numbers], assignments, mappings=mappings)
    _, p = run(few, idents, have)
    assert sum(isinstance(op, ArchiveTeam) for op in p.operations) == 5 and p.held == ()


def test_renamed_team_and_changed_description_are_updated() -> None:
    idents = identities("100")
    the_org = org([store("0042", "Main St")], [at("100", "0042", manager=True)])
    have = actual(store_0042=team("T42", [uid("100")], name="Renamed by hand", description="hand"))
    _, p = run(the_org, idents, have)
    [op] = p.operations
    assert isinstance(op, UpdateTeam)
    assert (op.display_name, op.description) == (
        "Main St (0042)",
        "Store team for Main St (0042), kept in sync with Commerce.",
    )
    assert (
        op.reason
        == "display name 'Renamed by hand' -> 'Main St (0042)'; description differs from the template"
    )


def test_missing_channel_and_plan_are_created_and_extra_channels_kept() -> None:
    settings = SETTINGS.model_copy(update={"channels": ["Announcements", "Shifts"]})
    the_org = org([store("0042")], [at("100", "0042", manager=True)])
    want, _ = run(the_org, identities("100"), settings=settings)
    t = want.teams[S42]
    have = actual(
        store_0042=team(
            "T42",
            [uid("100")],
            name=t.display_name,
            description=t.description,
            channels=["announcements", "Hand made"],
            with_plan=False,
        )
    )
    _, p = run(the_org, identities("100"), have, settings=settings)
    assert [(type(op), getattr(op, "name", None)) for op in p.operations] == [
        (CreateChannel, "Shifts"),
        (CreatePlan, None),
    ]


def test_same_inputs_give_the_same_plan() -> None:
    staff = _staff(6)
    idents = identities("100", *staff)
    the_org = org(
        [store("0042"), store("0043")],
        [at("100", "0042", manager=True), at("100", "0043", manager=True)]
        + [at(pn, "0043" if i % 2 else "0042") for i, pn in enumerate(staff)],
    )
    settings = ProvisioningSettings()
    assert run(the_org, idents, settings=settings) == run(
        the_org, dict(reversed(idents.items())), settings=settings
    )


def test_teams_not_in_the_desired_state_are_not_touched() -> None:
    have = actual(store_0099=team("T99", ["u-x"], ["u-y"]))
    assert plan(run(org([]), {})[0], have, STRICT).operations == ()


def test_apply_refuses_a_second_team() -> None:
    the_org = org([store("0042")], [at("100", "0042", manager=True)])
    _, p = run(the_org, identities("100"))
    have = actual(store_0042=team("T42", [uid("100")]))
    with pytest.raises(SimulationError, match="second team"):
        apply(p, have, new_team_id=lambda key: "NEW")

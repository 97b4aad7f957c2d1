"""Desired Teams state: one test per rule of docs/provisioning.md "Desired Teams state"."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from provisioning_builders import SETTINGS, TODAY, at, identities, org, run, store, synced, uid, worker

from shared.domain import ArchiveTeam, ProblemKind, Region, RemoveMember, TeamKey, TeamKind, UnarchiveTeam
from shared.provisioning import COMMUNICATIONS_KEY, TemplateError, desired, mail_nickname
from shared.settings import ProvisioningSettings

S42 = "store:0042"


def test_open_store_with_manager_gets_one_team_with_owners_and_members() -> None:
    the_org = org([store("0042", "Main St")], [at("100", "0042", manager=True), at("200", "0042")])
    want, _ = run(the_org, identities("100", "200"))
    assert list(want.teams) == [S42]
    t = want.teams[S42]
    assert (t.owners, t.members) == ({uid("100")}, {uid("200")})
    assert t.display_name == "Main St (0042)"
    assert t.mail_nickname == "store-0042"
    assert t.description == "Store team for Main St (0042), kept in sync with Commerce."
    assert t.visibility.value == "private" and not t.archived
    assert t.plan_title == "Store tasks" and t.channels == ()
    assert t.why == {uid("100"): "store manager 100 at 0042", uid("200"): "worker 200 at 0042"}
    assert want.problems == ()


def test_store_without_manager_is_blocked_not_skipped() -> None:
    the_org = org([store("0042")], [at("200", "0042")])
    want, p = run(the_org, identities("200"))
    assert want.teams == {}
    [problem] = want.problems
    assert problem.kind is ProblemKind.BLOCKED_NO_OWNER
    assert problem.store == "0042" and "no active store manager" in problem.detail
    assert p.operations == () and problem in p.problems


def test_store_whose_only_manager_is_unresolved_is_blocked_and_says_why() -> None:
    the_org = org([store("0042")], [at("100", "0042", manager=True), at("200", "0042")])
    want, _ = run(the_org, identities("200"))
    kinds = {p.kind for p in want.problems}
    assert kinds == {ProblemKind.BLOCKED_NO_OWNER, ProblemKind.UNRESOLVED_IDENTITY}
    blocked = next(p for p in want.problems if p.kind is ProblemKind.BLOCKED_NO_OWNER)
    assert "store manager 100 has no resolved Entra identity" in blocked.detail


def test_store_without_manager_keeps_its_mapped_team_converging() -> None:
    """A mapped team whose managers all left is still converged (members), never left ownerless."""
    the_org = org([store("0042")], [at("200", "0042")], mappings={"0042": "T42"})
    want, _ = run(the_org, identities("200"))
    assert want.teams[S42].owners == frozenset() and want.teams[S42].members == {uid("200")}
    assert want.teams[S42].team_id == "T42"
    assert [p.kind for p in want.problems] == [ProblemKind.BLOCKED_NO_OWNER]


def test_terminated_worker_leaves_every_store_team() -> None:
    gone = TODAY - timedelta(days=1)
    assignments = [at("100", "0042", manager=True), at("101", "0043", manager=True)]
    assignments += [at("300", "0042"), at("300", "0043")]
    workers = [worker("100"), worker("101"), worker("300", terminated=gone)]
    the_org = org([store("0042"), store("0043")], assignments, workers=workers)
    idents = identities("100", "101", "300")
    before = org([store("0042"), store("0043")], assignments)
    want, p = run(the_org, idents, synced(before, idents))
    assert all(uid("300") not in t.owners | t.members for t in want.teams.values())
    assert want.leavers == {uid("300"): f"terminated {gone.isoformat()} (worker 300)"}
    removals = [op for op in p.operations if isinstance(op, RemoveMember)]
    assert [(str(op.key), op.user_id, op.reason) for op in removals] == [
        (S42, uid("300"), f"terminated {gone.isoformat()} (worker 300)"),
        ("store:0043", uid("300"), f"terminated {gone.isoformat()} (worker 300)"),
    ]


@pytest.mark.parametrize(("days_until_termination", "in_team"), [(1, True), (0, False), (-30, False)])
def test_termination_takes_effect_on_the_termination_date(days_until_termination: int, in_team: bool) -> None:
    workers = [worker("100"), worker("300", terminated=TODAY + timedelta(days=days_until_termination))]
    the_org = org([store("0042")], [at("100", "0042", manager=True), at("300", "0042")], workers=workers)
    want, _ = run(the_org, identities("100", "300"))
    assert (uid("300") in want.teams[S42].members) is in_team


def test_inactive_assignment_is_ignored() -> None:
    the_org = org([store("0042")], [at("100", "0042", manager=True), at("200", "0042", active=False)])
    want, _ = run(the_org, identities("100", "200"))
    assert want.teams[S42].members == frozenset()


def test_multi_store_worker_is_in_each_team() -> None:
    assignments = [at("100", "0042", manager=True), at("101", "0043", manager=True)]
    assignments += [at("200", "0042"), at("200", "0043", manager=True)]
    want, _ = run(org([store("0042"), store("0043")], assignments), identities("100", "101", "200"))
    assert uid("200") in want.teams[S42].members
    assert uid("200") in want.teams["store:0043"].owners


def test_person_both_manager_and_worker_at_a_store_is_owner_only() -> None:
    the_org = org([store("0042")], [at("100", "0042"), at("100", "0042", manager=True)])
    want, _ = run(the_org, identities("100"))
    assert want.teams[S42].owners == {uid("100")} and want.teams[S42].members == frozenset()


def test_manager_job_from_settings_makes_a_store_manager() -> None:
    the_org = org([store("0042")], [at("100", "0042", job="Shift lead"), at("200", "0042", job="Cashier")])
    settings = ProvisioningSettings(communications_team_enabled=False, manager_jobs=["Shift lead"])
    want, _ = run(the_org, identities("100", "200"), settings=settings)
    assert want.teams[S42].owners == {uid("100")} and want.teams[S42].members == {uid("200")}


@pytest.mark.parametrize("region_managers_are_owners", [True, False])
def test_region_managers_are_owners_only_when_configured(region_managers_are_owners: bool) -> None:
    regions = [Region(id="R1", name="North", managers=("900",))]
    the_org = org([store("0042", region="R1")], [at("100", "0042", manager=True)], regions=regions)
    settings = SETTINGS.model_copy(update={"region_managers_are_owners": region_managers_are_owners})
    want, _ = run(the_org, identities("100", "900"), settings=settings)
    assert (uid("900") in want.teams[S42].owners) is region_managers_are_owners
    assert want.teams[S42].why.get(uid("900"), "region manager 900 of R1") == "region manager 900 of R1"


def test_region_managers_alone_do_not_give_a_store_a_team() -> None:
    regions = [Region(id="R1", name="North", managers=("900",))]
    the_org = org([store("0042", region="R1")], [at("200", "0042")], regions=regions)
    settings = SETTINGS.model_copy(update={"region_managers_are_owners": True})
    want, _ = run(the_org, identities("200", "900"), settings=settings)
    assert S42 not in want.teams
    assert [p.kind for p in want.problems] == [ProblemKind.BLOCKED_NO_OWNER]


def test_unresolved_identity_reported_and_rest_of_store_proceeds() -> None:
    the_org = org([store("0042")], [at("100", "0042", manager=True), at("200", "0042"), at("201", "0042")])
    want, p = run(the_org, identities("100", "201"))
    assert want.teams[S42].members == {uid("201")}
    [problem] = want.problems
    assert problem.kind is ProblemKind.UNRESOLVED_IDENTITY
    assert (problem.personnel_number, problem.store) == ("200", "0042")
    assert p.operations and problem in p.problems


def test_closed_store_team_is_archived_not_deleted() -> None:
    idents = identities("100", "200")
    assignments = [at("100", "0042", manager=True), at("200", "0042")]
    have = synced(org([store("0042")], assignments), idents)
    closed = org([store("0042", closed=True)], assignments, mappings={"0042": "T-store:0042"})
    want, p = run(closed, idents, have)
    assert want.teams[S42].archived
    assert [type(op) for op in p.operations] == [ArchiveTeam]
    assert p.operations[0].reason == "store 0042 is closed (archived, not deleted)"


def test_closed_store_never_gets_a_new_team() -> None:
    the_org = org([store("0042", closed=True)], [at("100", "0042", manager=True)])
    want, p = run(the_org, identities("100"))
    assert want.teams == {} and p.operations == ()
    mapped = org([store("0042", closed=True)], [at("100", "0042", manager=True)], mappings={"0042": "T42"})
    want, p = run(mapped, identities("100"))
    assert want.teams[S42].archived and p.operations == ()  # mapped, but the team is gone: nothing to do


def test_reopened_store_is_unarchived() -> None:
    idents = identities("100")
    the_org = org([store("0042")], [at("100", "0042", manager=True)], mappings={"0042": "T42"})
    have = synced(the_org, idents)
    archived = have.teams[S42].model_copy(
        update={"team": have.teams[S42].team.model_copy(update={"archived": True})}
    )  # type: ignore[union-attr]
    have = have.model_copy(update={"teams": {S42: archived}})
    _, p = run(the_org, idents, have)
    assert [type(op) for op in p.operations] == [UnarchiveTeam]
    assert p.operations[0].reason == "store 0042 is open again"


def test_communications_team_has_comms_managers_as_owners_and_region_managers_as_members() -> None:
    regions = [
        Region(id="R1", name="North", managers=("900",)),
        Region(id="R2", name="South", managers=("901",)),
    ]
    the_org = org([store("0042")], [at("100", "0042", manager=True)], regions=regions, comms=["800"])
    settings = ProvisioningSettings()
    want, _ = run(the_org, identities("100", "800", "900", "901"), settings=settings)
    comms = want.teams[str(COMMUNICATIONS_KEY)]
    assert comms.owners == {uid("800")} and comms.members == {uid("900"), uid("901")}
    assert (comms.display_name, comms.mail_nickname) == ("Store communications", "store-communications")
    assert comms.plan_title is None


def test_communications_team_without_comms_manager_is_blocked() -> None:
    regions = [Region(id="R1", name="North", managers=("900",))]
    want, _ = run(org([], regions=regions), identities("900"), settings=ProvisioningSettings())
    assert want.teams == {}
    assert [(p.kind, p.team_key) for p in want.problems] == [
        (ProblemKind.BLOCKED_NO_OWNER, str(COMMUNICATIONS_KEY))
    ]


def test_region_teams_are_optional_and_hold_the_regions_store_managers() -> None:
    regions = [Region(id="R1", name="North", managers=("900",))]
    assignments = [at("100", "0042", manager=True), at("200", "0042"), at("101", "0043", manager=True)]
    the_org = org([store("0042", region="R1"), store("0043")], assignments, regions=regions)
    idents = identities("100", "101", "200", "900")
    assert "region:R1" not in run(the_org, idents)[0].teams
    want, _ = run(the_org, idents, settings=SETTINGS.model_copy(update={"region_teams_enabled": True}))
    r1 = want.teams[str(TeamKey(kind=TeamKind.REGION, id="R1"))]
    assert r1.owners == {uid("900")} and r1.members == {uid("100")}
    assert (r1.display_name, r1.mail_nickname) == ("North region", "region-R1")


def test_templates_fill_name_nickname_and_description() -> None:
    settings = SETTINGS.model_copy(
        update={
            "team_name_template": "{legal_entity} {store_name} #{store_number}",
            "mail_nickname_template": "{legal_entity}_{store_name}",
            "description_template": "Team of {store_name} in {region}",
        }
    )
    the_org = org([store("0042", "Café Nørrebro", region="EU")], [at("100", "0042", manager=True)])
    t = run(the_org, identities("100"), settings=settings)[0].teams[S42]
    assert t.display_name == "USRT Café Nørrebro #0042"
    assert t.mail_nickname == "USRT_Cafe-Nrrebro"
    assert t.description == "Team of Café Nørrebro in EU"


def test_unknown_template_placeholder_is_a_clear_error() -> None:
    settings = SETTINGS.model_copy(update={"team_name_template": "{store_title}"})
    the_org = org([store("0042")], [at("100", "0042", manager=True)])
    with pytest.raises(TemplateError, match=r"team_name_template.*\{store_name\}"):
        desired(the_org, settings, identities("100"), TODAY)


def test_channels_come_from_settings_without_general_or_duplicates() -> None:
    settings = SETTINGS.model_copy(
        update={"channels": ["Announcements", "General", "announcements", "Shifts"]}
    )
    the_org = org([store("0042")], [at("100", "0042", manager=True)])
    assert run(the_org, identities("100"), settings=settings)[0].teams[S42].channels == (
        "Announcements",
        "Shifts",
    )


@pytest.mark.parametrize(
    ("text", "alias"),
    [
        ("store-0042", "store-0042"),
        ("Main Street (Seattle)", "Main-Street-Seattle"),
        ("  ..Åre  &  Co.. ", "Are-Co"),
        ("a" * 80, "a" * 64),
        ("x" * 63 + ".y", "x" * 63),
        ("日本", "team"),
        ("über@store;1", "uber-store-1"),
    ],
)
def test_mail_nickname_is_safe_for_exchange(text: str, alias: str) -> None:
    assert mail_nickname(text) == alias


def test_workers_and_stores_in_any_order_give_the_same_desired_state() -> None:
    assignments = [at("100", "0042", manager=True), at("200", "0042"), at("101", "0043", manager=True)]
    a = org([store("0042"), store("0043")], assignments)
    b = org([store("0043"), store("0042")], list(reversed(assignments)))
    idents = identities("100", "101", "200")
    assert desired(a, SETTINGS, idents, TODAY) == desired(b, SETTINGS, idents, date(2026, 11, 23))

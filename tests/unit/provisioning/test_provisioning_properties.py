"""Properties of desired -> plan -> apply over generated orgs and drifted actual states.

"Applying the plan yields the desired state" means, for every desired key whose plan was neither
held (safety rail) nor blocked (`blocked: last owner`, `blocked: mapped team missing`) and that
can exist (an ownerless or archived key without a team is never created):
  - the key has a team, recorded as mapped, archived exactly when desired;
  - an archived team is otherwise frozen; for the others: display name and description equal,
    every desired channel exists (case-insensitive), a Planner plan exists when one is desired;
  - strict mode: owners == desired owners and members == desired members;
  - flexible mode: desired owners/members are there with their desired role, anyone else is
    someone the integration did not add and who is not a leaver (terminated), and everyone who was
    there without the integration adding them (and is not a leaver) is still there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from provisioning_builders import TODAY

from shared.domain import (
    ActualState,
    ActualTeam,
    Channel,
    CommerceOrg,
    CreateTeam,
    DesiredState,
    EmploymentStatus,
    Identity,
    Member,
    MemberRole,
    Plan,
    PlanRef,
    ProblemKind,
    Region,
    RemoveMember,
    Store,
    StoreAssignment,
    StoreRole,
    StoreStatus,
    Team,
    TeamKey,
    TeamMapping,
    TeamSourceType,
    Worker,
)
from shared.provisioning import apply, desired, plan
from shared.settings import MembershipMode, ProvisioningSettings

STORES = ["0001", "0002", "0003", "0004", "0005"]
PEOPLE = [f"{i:03d}" for i in range(14)]
HAND_ADDED = ["hand-1", "hand-2", "hand-3"]
BLOCKING = {ProblemKind.BLOCKED_LAST_OWNER, ProblemKind.BLOCKED_MAPPED_TEAM_MISSING}


@dataclass(frozen=True)
class Scenario:
    org: CommerceOrg
    settings: ProvisioningSettings
    want: DesiredState
    have: ActualState
    plan: Plan


def _subset(items: list[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(items), unique=True).map(sorted)


@st.composite
def workers(draw: st.DrawFn, pn: str) -> Worker:
    status = draw(st.sampled_from([EmploymentStatus.ACTIVE] * 3 + [EmploymentStatus.TERMINATED]))
    ends = draw(st.one_of(st.none(), st.integers(-20, 20).map(lambda d: TODAY + timedelta(days=d))))
    return Worker(personnel_number=pn, name=f"Worker {pn}", status=status, termination_date=ends)


@st.composite
def orgs(draw: st.DrawFn) -> tuple[CommerceOrg, dict[str, Identity]]:
    numbers = draw(st.lists(st.sampled_from(STORES), unique=True, min_size=1, max_size=5))
    stores = [
        Store(
            number=n,
            name=draw(st.sampled_from(["Main St", "Café Ålborg", "Store " + "x" * 70])),
            status=draw(st.sampled_from([StoreStatus.OPEN] * 3 + [StoreStatus.CLOSED])),
            region=draw(st.sampled_from([None, "R1", "R2"])),
        )
        for n in numbers
    ]
    pns = draw(st.lists(st.sampled_from(PEOPLE), unique=True, min_size=1))
    assignment = st.builds(
        StoreAssignment,
        personnel_number=st.sampled_from(pns),
        store=st.sampled_from(STORES),  # sometimes a store that is not in the org
        role=st.sampled_from([StoreRole.WORKER, StoreRole.WORKER, StoreRole.MANAGER]),
        active=st.sampled_from([True, True, True, False]),
    )
    region_ids = ["R1", "R2"]
    mapped = draw(_subset(numbers))
    mappings = [TeamMapping(source_id=n, team_id=f"M-{n}") for n in mapped]
    if draw(st.booleans()):
        mappings.append(
            TeamMapping(source_type=TeamSourceType.COMMUNICATIONS, source_id="x", team_id="M-comms")
        )
    mappings += [
        TeamMapping(source_type=TeamSourceType.REGION, source_id=r, team_id=f"M-{r}")
        for r in draw(_subset(region_ids))
    ]
    the_org = CommerceOrg(
        stores=tuple(stores),
        workers=tuple(draw(workers(pn)) for pn in pns),
        assignments=tuple(draw(st.lists(assignment, max_size=25))),
        regions=tuple(Region(id=r, name=r, managers=tuple(draw(_subset(pns)))) for r in region_ids),
        communications_managers=tuple(draw(_subset(pns))),
        mappings=tuple(mappings),
    )
    resolved = draw(st.lists(st.sampled_from(pns), unique=True, min_size=len(pns) // 2))
    return the_org, {pn: Identity(user_id=f"u{pn}") for pn in resolved}


provisioning_settings = st.builds(
    ProvisioningSettings,
    membership_mode=st.sampled_from(list(MembershipMode)),
    region_managers_are_owners=st.booleans(),
    communications_team_enabled=st.booleans(),
    region_teams_enabled=st.booleans(),
    channels=_subset(["Announcements", "Shifts", "general"]),
    plan_title=st.sampled_from(["Store tasks", ""]),
    max_removal_ratio=st.sampled_from([0.0, 0.25, 0.5, 1.0]),
    max_removal_min_team_size=st.sampled_from([0, 2, 4]),
    max_archives_per_run=st.sampled_from([0, 1, 5]),
)


@st.composite
def teams(draw: st.DrawFn, team_id: str, key: str, want: DesiredState, users: list[str]) -> ActualTeam:
    d = want.teams.get(key)
    people = draw(st.lists(st.sampled_from(users + HAND_ADDED), unique=True, max_size=12))
    members = tuple(Member(user_id=u, role=draw(st.sampled_from(list(MemberRole)))) for u in people)
    names = [d.display_name, "Renamed by hand"] if d else ["Some team"]
    descriptions = [d.description, None, "edited"] if d else [None]
    channels = draw(_subset([*(d.channels if d else ()), "announcements", "Hand made"]))
    team = Team(
        team_id=team_id,
        display_name=draw(st.sampled_from(names)),
        description=draw(st.sampled_from(descriptions)),
        archived=draw(st.booleans()),
        members=members,
        channels=tuple(Channel(name=c) for c in channels),
        plan=draw(st.sampled_from([None, PlanRef(plan_id=f"{team_id}/plan", title="Old title")])),
    )
    managed = draw(_subset(people)) if people else []
    return ActualTeam(key=TeamKey.parse(key), team=team, managed_user_ids=frozenset(managed), mapped=True)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    the_org, idents = draw(orgs())
    s = draw(provisioning_settings)
    want = desired(the_org, s, idents, TODAY)
    users = sorted(i.user_id for i in idents.values())
    state: dict[str, ActualTeam] = {}
    for key, d in sorted(want.teams.items()):
        if d.team_id is not None:  # mapped in Commerce: usually found (adopted or not yet), rarely gone
            if draw(st.integers(0, 9)) > 0:
                t = draw(teams(d.team_id, key, want, users))
                state[key] = t.model_copy(update={"mapped": draw(st.booleans())})
        elif draw(st.booleans()):  # a team the app created on an earlier pass
            state[key] = draw(teams(f"A-{key}", key, want, users))
    if draw(st.booleans()):  # a team outside the desired state: never touched
        state["store:9999"] = draw(teams("A-9999", "store:9999", want, users))
    have = ActualState(teams=state)
    return Scenario(the_org, s, want, have, plan(want, have, s))


def _new_team_id(key: TeamKey) -> str:
    return f"new-{key}"


def _held_keys(p: Plan) -> set[str]:
    return {str(op.key) for op in p.held}


def _converged_keys(sc: Scenario) -> set[str]:
    blocked = {x.team_key for x in sc.plan.problems if x.kind in BLOCKING}
    keys = set()
    for key, d in sc.want.teams.items():
        exists = sc.have.get(d.key).team is not None
        if key in blocked or key in _held_keys(sc.plan) or (not exists and (d.archived or not d.owners)):
            continue
        keys.add(key)
    return keys


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_applying_the_plan_yields_the_desired_state(sc: Scenario) -> None:
    after = apply(sc.plan, sc.have, new_team_id=_new_team_id)
    strict = sc.settings.membership_mode is MembershipMode.STRICT
    for key in _converged_keys(sc):
        d, result = sc.want.teams[key], after.teams[key]
        assert result.team is not None and result.mapped
        t = result.team
        assert t.archived == d.archived
        if d.archived:
            continue
        assert (t.display_name, t.description or "") == (d.display_name, d.description)
        assert {c.casefold() for c in d.channels} <= {c.name.casefold() for c in t.channels}
        assert d.plan_title is None or t.plan is not None
        owners, members = t.owners, t.plain_members
        if strict:
            assert (owners, members) == (d.owners, d.members)
        else:
            assert d.owners <= owners and d.members <= members
            for extra in (owners - d.owners) | (members - d.members):
                assert extra not in result.managed_user_ids and extra not in sc.want.leavers, extra
            before = sc.have.get(d.key)
            hand_added = {m.user_id for m in before.team.members} if before.team else set()
            hand_added -= before.managed_user_ids | set(sc.want.leavers)
            assert hand_added <= owners | members  # people added by hand stay


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_planning_again_after_applying_is_empty(sc: Scenario) -> None:
    after = apply(sc.plan, sc.have, new_team_id=_new_team_id)
    again = plan(sc.want, after, sc.settings)
    held = _held_keys(sc.plan)
    assert {str(op.key) for op in again.operations} <= held
    assert _held_keys(again) <= held


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_no_plan_leaves_a_team_without_owners(sc: Scenario) -> None:
    """Checked after every single operation, in the executor's order, not only at the end."""
    had_owner = {k for k, a in sc.have.teams.items() if a.team is not None and a.team.owners}
    state = sc.have
    for op in sc.plan.operations:
        state = apply(Plan(operations=(op,)), state, new_team_id=_new_team_id)
        for key, a in state.teams.items():
            created = key not in sc.have.teams or sc.have.teams[key].team is None
            if key in had_owner or (created and a.team is not None):
                assert a.team is not None and a.team.owners, (key, op)


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_no_plan_creates_a_second_team_for_a_key(sc: Scenario) -> None:
    for op in sc.plan.operations + sc.plan.held:
        if isinstance(op, CreateTeam):
            key = str(op.key)
            assert sc.have.get(op.key).team is None and sc.want.teams[key].team_id is None
            assert not sc.want.teams[key].archived
    creates = [str(op.key) for op in sc.plan.operations if isinstance(op, CreateTeam)]
    assert len(creates) == len(set(creates))


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_mass_removal_guard_holds(sc: Scenario) -> None:
    s = sc.settings
    for key, a in sc.have.teams.items():
        size = len(a.team.members) if a.team else 0
        removed = sum(isinstance(op, RemoveMember) and str(op.key) == key for op in sc.plan.operations)
        if size >= s.max_removal_min_team_size and size:
            assert removed <= s.max_removal_ratio * size, (key, removed, size)
    archives = sum(op.op == "archive_team" for op in sc.plan.operations)
    assert archives <= s.max_archives_per_run


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_plan_is_deterministic_and_serialisable(sc: Scenario) -> None:
    assert plan(sc.want, sc.have, sc.settings) == sc.plan
    assert Plan.model_validate_json(sc.plan.model_dump_json()) == sc.plan

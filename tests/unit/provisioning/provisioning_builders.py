"""Small builders for provisioning tests: orgs, identities and actual Teams states in a line each."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from shared.domain import (
    ActualState,
    ActualTeam,
    Channel,
    CommerceOrg,
    DesiredState,
    Identity,
    Member,
    MemberRole,
    Plan,
    PlanRef,
    Region,
    Store,
    StoreAssignment,
    StoreRole,
    StoreStatus,
    Team,
    TeamKey,
    TeamMapping,
    Worker,
)
from shared.provisioning import desired, plan
from shared.settings import ProvisioningSettings

TODAY = date(2026, 11, 23)
SETTINGS = ProvisioningSettings(communications_team_enabled=False)


def store(number: str, name: str | None = None, *, closed: bool = False, region: str | None = None) -> Store:
    status = StoreStatus.CLOSED if closed else StoreStatus.OPEN
    return Store(number=number, name=name or f"Store {number}", status=status, region=region)


def worker(pn: str, *, terminated: date | None = None) -> Worker:
    return Worker(
        personnel_number=pn, name=f"Worker {pn}", upn=f"{pn}@contoso.com", termination_date=terminated
    )


def at(
    pn: str, store_number: str, *, manager: bool = False, active: bool = True, job: str | None = None
) -> StoreAssignment:
    role = StoreRole.MANAGER if manager else StoreRole.WORKER
    return StoreAssignment(personnel_number=pn, store=store_number, role=role, active=active, job=job)


def uid(pn: str) -> str:
    return f"u-{pn}"


def identities(*pns: str) -> dict[str, Identity]:
    return {pn: Identity(user_id=uid(pn), upn=f"{pn}@contoso.com") for pn in pns}


def org(
    stores: Iterable[Store],
    assignments: Iterable[StoreAssignment] = (),
    *,
    workers: Iterable[Worker] | None = None,
    regions: Iterable[Region] = (),
    comms: Iterable[str] = (),
    mappings: dict[str, str] | None = None,
) -> CommerceOrg:
    """Workers default to every personnel number named by an assignment, a region or comms."""
    assignments = tuple(assignments)
    regions = tuple(regions)
    if workers is None:
        pns = (
            {a.personnel_number for a in assignments} | {p for r in regions for p in r.managers} | set(comms)
        )
        workers = [worker(pn) for pn in sorted(pns)]
    return CommerceOrg(
        stores=tuple(stores),
        workers=tuple(workers),
        assignments=assignments,
        regions=regions,
        communications_managers=tuple(comms),
        mappings=tuple(TeamMapping(source_id=s, team_id=t) for s, t in (mappings or {}).items()),
    )


def team(
    team_id: str,
    owners: Iterable[str] = (),
    members: Iterable[str] = (),
    *,
    name: str = "",
    description: str | None = None,
    archived: bool = False,
    channels: Iterable[str] = (),
    with_plan: bool = True,
) -> Team:
    people = [Member(user_id=u, role=MemberRole.OWNER) for u in owners]
    people += [Member(user_id=u, role=MemberRole.MEMBER) for u in members]
    return Team(
        team_id=team_id,
        display_name=name,
        description=description,
        archived=archived,
        members=tuple(people),
        channels=tuple(Channel(name=c) for c in channels),
        plan=PlanRef(plan_id=f"{team_id}/plan", title="Store tasks") if with_plan else None,
    )


def actual(**teams: tuple[Team, Iterable[str]] | Team) -> ActualState:
    """actual(store_0042=(team, managed_user_ids)) or actual(store_0042=team) (everyone managed)."""
    state: dict[str, ActualTeam] = {}
    for name, value in teams.items():
        kind, _, ident = name.partition("_")
        key = TeamKey.parse(f"{kind}:{ident}")
        t, managed = value if isinstance(value, tuple) else (value, [m.user_id for m in value.members])
        state[str(key)] = ActualTeam(key=key, team=t, managed_user_ids=frozenset(managed))
    return ActualState(teams=state)


def synced(
    the_org: CommerceOrg, idents: dict[str, Identity], settings: ProvisioningSettings = SETTINGS
) -> ActualState:
    """The actual state a previous pass left: every desired team exists exactly as desired."""
    want = desired(the_org, settings, idents, TODAY)
    state: dict[str, ActualTeam] = {}
    for key, d in want.teams.items():
        t = team(
            d.team_id or f"T-{key}",
            sorted(d.owners),
            sorted(d.members),
            name=d.display_name,
            description=d.description,
            archived=d.archived,
            channels=d.channels,
            with_plan=d.plan_title is not None,
        )
        state[key] = ActualTeam(key=d.key, team=t, managed_user_ids=d.owners | d.members)
    return ActualState(teams=state)


def run(
    the_org: CommerceOrg,
    idents: dict[str, Identity],
    have: ActualState | None = None,
    settings: ProvisioningSettings = SETTINGS,
    today: date = TODAY,
) -> tuple[DesiredState, Plan]:
    want = desired(the_org, settings, idents, today)
    return want, plan(want, have or ActualState(), settings)

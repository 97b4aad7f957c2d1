"""Commerce org structure -> desired Teams state (pure: no I/O, same inputs give the same state).

Rules, in the words of docs/provisioning.md: one team per open store with at least one active
store manager whose Entra identity is resolved; owners are the store managers (and, if
configured, the managers of the store's region and district), members the store's other active
workers; a closed store's existing team is archived, never deleted; a communications team and
optional region teams. What cannot be provisioned is reported as a Problem, never skipped silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from shared.domain import (
    CommerceOrg,
    DesiredState,
    DesiredTeam,
    Identity,
    Problem,
    ProblemKind,
    Region,
    Store,
    StoreAssignment,
    StoreRole,
    StoreStatus,
    TeamKey,
    TeamKind,
    TeamSourceType,
    Visibility,
    Worker,
)
from shared.provisioning import naming
from shared.provisioning.tags import desired_tags
from shared.settings import ProvisioningSettings

COMMUNICATIONS_KEY = TeamKey(kind=TeamKind.COMMUNICATIONS, id="all")
"""The one communications team of the org."""


@dataclass
class _Roster:
    """Owners and members of one team, with why each person is there (first reason wins)."""

    owners: dict[str, str] = field(default_factory=dict)
    members: dict[str, str] = field(default_factory=dict)
    unlicensed: set[str] = field(default_factory=set)  # would-be owners without a Teams licence

    def add_owner(self, user_id: str, why: str) -> None:
        self.owners.setdefault(user_id, why)
        self.members.pop(user_id, None)  # owner-worthy and member-worthy: owner only

    def add_member(self, user_id: str, why: str) -> None:
        if user_id not in self.owners:
            self.members.setdefault(user_id, why)


@dataclass
class _Org:
    """The org indexed once, plus the identity look-ups that failed (personnel number -> keys)."""

    org: CommerceOrg
    settings: ProvisioningSettings
    identities: Mapping[str, Identity]
    today: date
    workers: dict[str, Worker] = field(init=False)
    regions: dict[str, Region] = field(init=False)
    mappings: dict[tuple[TeamSourceType, str], str] = field(init=False)
    by_store: dict[str, list[StoreAssignment]] = field(init=False)
    unresolved: dict[str, set[str]] = field(default_factory=dict)
    unlicensed: dict[str, set[str]] = field(default_factory=dict)  # key -> would-be owners without Teams

    def __post_init__(self) -> None:
        self.workers = {w.personnel_number: w for w in self.org.workers}
        self.regions = {r.id: r for r in self.org.regions}
        self.by_store = {}
        for a in self.org.assignments:  # indexed once: a 1,000-store org must not be O(stores x rows)
            if a.active:
                self.by_store.setdefault(a.store, []).append(a)
        self.mappings = {}
        # Several rows for one source: the smallest team id wins, so the choice is stable.
        for m in sorted(self.org.mappings, key=lambda m: (m.source_type, m.source_id, m.team_id)):
            self.mappings.setdefault((m.source_type, m.source_id), m.team_id)

    def is_active(self, personnel_number: str) -> bool:
        worker = self.workers.get(personnel_number)
        return worker is not None and worker.is_active_on(self.today)

    def user(self, personnel_number: str, key: TeamKey) -> str | None:
        """The Entra user id of an active worker, or None (inactive, unknown, or unresolved)."""
        if not self.is_active(personnel_number):
            return None
        identity = self.identities.get(personnel_number)
        if identity is None:
            self.unresolved.setdefault(personnel_number, set()).add(str(key))
            return None
        return identity.user_id

    def licensed(self, personnel_number: str) -> bool:
        """False only for a worker whose look-up found no enabled Teams plan (unknown counts as
        licensed: the check is off, or Entra was not asked)."""
        if not self.settings.require_teams_licence:
            return True
        identity = self.identities.get(personnel_number)
        return identity is None or identity.teams_licensed is not False

    def add_owner(self, roster: _Roster, key: TeamKey, pn: str, user: str, why: str) -> None:
        """Owner if licensed for Teams; else a member (Teams refuses an unlicensed owner), noted."""
        if self.licensed(pn):
            roster.add_owner(user, why)
        else:
            self.unlicensed.setdefault(str(key), set()).add(pn)
            roster.add_member(user, f"{why} (no Teams licence: member, not owner)")
            if user not in roster.owners:
                roster.unlicensed.add(user)

    def no_licence(self, key: TeamKey, mapped: str | None) -> Problem | None:
        """The blocking problem of a key whose only would-be owners lack a Teams licence."""
        people = sorted(self.unlicensed.get(str(key), ()))
        if not people:
            return None
        who = f"{'managers' if len(people) > 1 else 'manager'} {', '.join(people)}"
        where = f"store {key.id}" if key.kind is TeamKind.STORE else str(key)
        detail = (
            f"{where} gets no team: {who} {'have' if len(people) > 1 else 'has'} no Microsoft Teams licence "
            "(no enabled Teams service plan in assignedPlans); Teams refuses a team whose owner is "
            "unlicensed ('Failed to retrieve appliable Sku categories for the user') -- assign a licence"
        )
        if mapped is not None:
            detail = (
                f"{where}: {who} without a Microsoft Teams licence cannot be made owner; its team {mapped} "
                "keeps its current owners until a licence is assigned"
            )
        store = key.id if key.kind is TeamKind.STORE else None
        return Problem(kind=ProblemKind.BLOCKED_NO_LICENCE, detail=detail, store=store, team_key=str(key))

    def is_manager(self, assignment: StoreAssignment) -> bool:
        return assignment.role is StoreRole.MANAGER or (
            assignment.job is not None and assignment.job in self.settings.manager_jobs
        )

    def active_assignments(self, store: str) -> list[StoreAssignment]:
        return sorted(self.by_store.get(store, ()), key=lambda a: (a.personnel_number, a.role, a.job or ""))

    def mapped_team(self, source_type: TeamSourceType, source_id: str | None = None) -> str | None:
        if source_id is None:  # the communications team: any row of its type
            return next((t for (s, _), t in sorted(self.mappings.items()) if s is source_type), None)
        return self.mappings.get((source_type, source_id))


def desired(
    org: CommerceOrg, settings: ProvisioningSettings, identities: Mapping[str, Identity], today: date
) -> DesiredState:
    """The Teams state Commerce asks for on `today`; `identities` maps personnel number -> Entra
    user (a worker missing from it is reported as `unresolved identity` and left out)."""
    ctx = _Org(org, settings, identities, today)
    teams: list[DesiredTeam] = []
    problems: list[Problem] = []
    for store in sorted(org.stores, key=lambda s: s.number):
        team, problem = _store_team(ctx, store)
        teams += [team] if team else []
        problems += [problem] if problem else []
    if settings.communications_team_enabled:
        team, problem = _communications_team(ctx)
        teams += [team] if team else []
        problems += [problem] if problem else []
    if settings.region_teams_enabled:
        for region in sorted(org.regions, key=lambda r: r.id):
            team, problem = _region_team(ctx, region)
            teams += [team] if team else []
            problems += [problem] if problem else []
    problems += _unresolved_problems(ctx)
    wanted = {u for t in teams for u in (*t.owners, *t.members)}
    return DesiredState(
        teams={str(t.key): t for t in sorted(teams, key=lambda t: str(t.key))},
        problems=tuple(sorted(problems, key=problem_order)),
        leavers=_leavers(ctx, wanted),
    )


def problem_order(p: Problem) -> tuple[str, str, str, str]:
    return (p.team_key or "", p.kind.value, p.personnel_number or "", p.detail)


def _store_team(ctx: _Org, store: Store) -> tuple[DesiredTeam | None, Problem | None]:
    s = ctx.settings
    key = TeamKey.store(store.number)
    mapped = ctx.mapped_team(TeamSourceType.STORE, store.number)
    fields = {
        "store_name": store.name,
        "store_number": store.number,
        "operating_unit_number": store.operating_unit_number or "",
        "legal_entity": store.legal_entity,
        "region": store.region or "",
        "district": store.district or "",
    }
    names = {
        "display_name": naming.display_name(
            naming.render(s.team_name_template, "team_name_template", fields)
        ),
        "mail_nickname": naming.mail_nickname(
            naming.render(s.mail_nickname_template, "mail_nickname_template", fields), f"store-{store.number}"
        ),
        "description": naming.description(
            naming.render(s.description_template, "description_template", fields)
        ),
    }
    if store.status is StoreStatus.CLOSED:
        # Closed stores never get a new team; an existing one is archived (never deleted).
        if mapped is None:
            return None, None
        return DesiredTeam(
            key=key, **names, visibility=Visibility(s.visibility), archived=True, team_id=mapped
        ), None

    roster = _Roster()
    managers: list[str] = []
    for a in ctx.active_assignments(store.number):
        manager = ctx.is_manager(a)
        if manager and ctx.is_active(a.personnel_number):
            managers.append(a.personnel_number)
        user = ctx.user(a.personnel_number, key)
        if user is None:
            continue
        if manager:
            ctx.add_owner(
                roster, key, a.personnel_number, user, f"store manager {a.personnel_number} at {store.number}"
            )
        else:
            roster.add_member(user, f"worker {a.personnel_number} at {store.number}")
    problem = None
    if not roster.owners:
        problem = ctx.no_licence(key, mapped) or _no_store_owner(key, store, managers, mapped)
        if mapped is None:
            return None, problem
    if s.region_managers_are_owners:
        for region_id in sorted({r for r in (store.region, store.district) if r}):
            region = ctx.regions.get(region_id)
            for pn in sorted(region.managers) if region else ():
                user = ctx.user(pn, key)
                if user is not None:
                    ctx.add_owner(roster, key, pn, user, f"region manager {pn} of {region_id}")
    team = _team(ctx, key, names, roster, mapped)
    tags = {}
    if s.role_tags:
        user_of = {pn: i.user_id for pn, i in ctx.identities.items() if ctx.is_active(pn)}
        people = {*roster.owners, *roster.members}
        tags = desired_tags(s.role_tags, ctx.active_assignments(store.number), user_of, people)
    return team.model_copy(
        update={"channels": _channels(s.channels), "plan_title": s.plan_title or None, "tags": tags}
    ), problem


def _no_store_owner(key: TeamKey, store: Store, managers: list[str], mapped: str | None) -> Problem:
    if managers:
        names = sorted(set(managers))
        many = len(names) > 1
        who = f"store managers {', '.join(names)} have" if many else f"store manager {names[0]} has"
        why = f"{who} no resolved Entra identity"
    else:
        why = "no active store manager"
    if mapped is None:
        detail = f"store {store.number} gets no team: {why}"
    else:
        detail = f"store {store.number}: {why}; its team {mapped} keeps its current owners"
    return Problem(kind=ProblemKind.BLOCKED_NO_OWNER, detail=detail, store=store.number, team_key=str(key))


def _communications_team(ctx: _Org) -> tuple[DesiredTeam | None, Problem | None]:
    """Owners: the communications managers (they publish to the stores). Members: every region's
    managers. Without a resolved communications manager the team is blocked, like a store."""
    s = ctx.settings
    key = COMMUNICATIONS_KEY
    roster = _Roster()
    for pn in sorted(set(ctx.org.communications_managers)):
        user = ctx.user(pn, key)
        if user is not None:
            ctx.add_owner(roster, key, pn, user, f"communications manager {pn} ({s.communications_role})")
    for region in sorted(ctx.org.regions, key=lambda r: r.id):
        for pn in sorted(region.managers):
            user = ctx.user(pn, key)
            if user is not None:
                roster.add_member(user, f"region manager {pn} of {region.id}")
    names = {
        "display_name": naming.display_name(s.communications_team_name),
        "mail_nickname": naming.mail_nickname(s.communications_team_mail_nickname, "store-communications"),
        "description": naming.description(s.communications_team_description),
    }
    return _owned_team(
        ctx, key, names, roster, TeamSourceType.COMMUNICATIONS, None, "no active communications manager"
    )


def _region_team(ctx: _Org, region: Region) -> tuple[DesiredTeam | None, Problem | None]:
    """Owners: the region's managers. Members: store managers of the open stores in the region."""
    s = ctx.settings
    key = TeamKey(kind=TeamKind.REGION, id=region.id)
    roster = _Roster()
    for pn in sorted(region.managers):
        user = ctx.user(pn, key)
        if user is not None:
            ctx.add_owner(roster, key, pn, user, f"region manager {pn} of {region.id}")
    for store in sorted(ctx.org.stores, key=lambda st: st.number):
        if store.status is not StoreStatus.OPEN or region.id not in (store.region, store.district):
            continue
        for a in ctx.active_assignments(store.number):
            if ctx.is_manager(a) and (user := ctx.user(a.personnel_number, key)) is not None:
                roster.add_member(user, f"store manager {a.personnel_number} at {store.number}")
    fields = {"region_name": region.name, "region_id": region.id}
    names = {
        "display_name": naming.display_name(
            naming.render(s.region_team_name_template, "region_team_name_template", fields)
        ),
        "mail_nickname": naming.mail_nickname(
            naming.render(s.region_team_mail_nickname_template, "region_team_mail_nickname_template", fields),
            f"region-{region.id}",
        ),
        "description": naming.description(
            naming.render(s.region_team_description_template, "region_team_description_template", fields)
        ),
    }
    return _owned_team(ctx, key, names, roster, TeamSourceType.REGION, region.id, "no active region manager")


def _owned_team(
    ctx: _Org,
    key: TeamKey,
    names: dict[str, str],
    roster: _Roster,
    source_type: TeamSourceType,
    source_id: str | None,
    no_owner: str,
) -> tuple[DesiredTeam | None, Problem | None]:
    mapped = ctx.mapped_team(source_type, source_id)
    if roster.owners:
        return _team(ctx, key, names, roster, mapped), None
    detail = f"{key} gets no team: {no_owner} with a resolved Entra identity"
    if mapped is not None:
        detail = (
            f"{key}: {no_owner} with a resolved Entra identity; its team {mapped} keeps its current owners"
        )
    problem = ctx.no_licence(key, mapped) or Problem(
        kind=ProblemKind.BLOCKED_NO_OWNER, detail=detail, team_key=str(key)
    )
    return (_team(ctx, key, names, roster, mapped) if mapped else None), problem


def _team(ctx: _Org, key: TeamKey, names: dict[str, str], roster: _Roster, mapped: str | None) -> DesiredTeam:
    return DesiredTeam(
        key=key,
        **names,
        visibility=Visibility(ctx.settings.visibility),
        owners=frozenset(roster.owners),
        members=frozenset(roster.members),
        team_id=mapped,
        why=dict(sorted({**roster.members, **roster.owners}.items())),
        unlicensed_owners=frozenset(roster.unlicensed - set(roster.owners)),
    )


def _channels(names: Iterable[str]) -> tuple[str, ...]:
    """Channels beyond General, de-duplicated case-insensitively (Teams channel names are)."""
    seen: dict[str, str] = {}
    for name in (" ".join(n.split()) for n in names):
        if name and name.casefold() != "general":
            seen.setdefault(name.casefold(), name)
    return tuple(seen.values())


def _unresolved_problems(ctx: _Org) -> list[Problem]:
    problems = []
    for pn, keys in sorted(ctx.unresolved.items()):
        worker = ctx.workers[pn]
        stores = sorted(TeamKey.parse(k).id for k in keys if k.startswith(f"{TeamKind.STORE.value}:"))
        problems.append(
            Problem(
                kind=ProblemKind.UNRESOLVED_IDENTITY,
                detail=f"worker {pn} ({worker.name}, upn {worker.upn or 'none'}) has no resolved Entra "
                f"identity; left out of {', '.join(sorted(keys))} until it resolves",
                personnel_number=pn,
                store=stores[0] if stores else None,
            )
        )
    return problems


def _leavers(ctx: _Org, wanted: set[str]) -> dict[str, str]:
    """Users of terminated workers: they leave every team the integration keeps."""
    leavers: dict[str, str] = {}
    for pn, worker in sorted(ctx.workers.items()):
        identity = ctx.identities.get(pn)
        if identity is None or worker.is_active_on(ctx.today) or identity.user_id in wanted:
            continue
        when = worker.termination_date.isoformat() if worker.termination_date else "(date unknown)"
        leavers.setdefault(identity.user_id, f"terminated {when} (worker {pn})")
    return leavers

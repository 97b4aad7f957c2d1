"""Desired vs actual Teams state -> the smallest list of idempotent operations (pure).

Decide here, act elsewhere: the executor runs `Plan.operations` in order and never `Plan.held`.
Per team the order is adopt, unarchive, rename, add owners, promote, add members, demote,
remove, channels, Planner plan, archive -- owners arrive before anyone leaves, so a team never
passes through zero owners. Teams are planned in key order, so the same inputs give the same plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from shared.domain import (
    ActualState,
    ActualTeam,
    AddMembers,
    AdoptTeam,
    ArchiveTeam,
    CreateChannel,
    CreatePlan,
    CreateTeam,
    DesiredState,
    DesiredTeam,
    MemberRole,
    Operation,
    Plan,
    Problem,
    ProblemKind,
    RemoveMember,
    SetRole,
    Team,
    TeamKey,
    TeamKind,
    UnarchiveTeam,
    UpdateTeam,
)
from shared.provisioning.desired import problem_order
from shared.provisioning.tags import tag_ops
from shared.settings import MembershipMode, ProvisioningSettings

_LISTED = 5  # people named in an AddMembers reason before "and N more"


def plan(desired: DesiredState, actual: ActualState, settings: ProvisioningSettings) -> Plan:
    """Operations that turn `actual` into `desired` for every key of `desired` (keys it does not
    name are not touched). Carries the desired state's problems plus the planner's own."""
    operations: list[Operation] = []
    held: list[Operation] = []
    problems: list[Problem] = list(desired.problems)
    for key_text, want in sorted(desired.teams.items()):
        have = actual.teams.get(key_text) or ActualTeam(key=want.key)
        ops, team_problems = _plan_team(want, have, desired.leavers, settings)
        problems += team_problems
        if _mass_removal(have.team, ops, settings):
            held += ops
            problems.append(_mass_removal_problem(want.key, have.team, ops, settings))
        else:
            operations += ops
    archives = [op for op in operations if isinstance(op, ArchiveTeam)]
    if len(archives) > settings.max_archives_per_run:
        operations = [op for op in operations if not isinstance(op, ArchiveTeam)]
        held += archives
        problems += [
            Problem(
                kind=ProblemKind.HELD_MASS_ARCHIVE,
                detail=f"{len(archives)} archives in one run exceed max_archives_per_run="
                f"{settings.max_archives_per_run}; {op.key} not archived until confirmed",
                team_key=str(op.key),
                store=op.key.id if op.key.kind is TeamKind.STORE else None,
            )
            for op in archives
        ]
    return Plan(
        operations=tuple(operations), held=tuple(held), problems=tuple(sorted(problems, key=problem_order))
    )


def _plan_team(
    want: DesiredTeam, have: ActualTeam, leavers: Mapping[str, str], settings: ProvisioningSettings
) -> tuple[list[Operation], list[Problem]]:
    key, team = want.key, have.team
    if team is None:
        if want.archived or not want.owners:
            return [], []  # never create an archived or ownerless team (desired() said why)
        if want.team_id is not None:
            return [], [
                Problem(
                    kind=ProblemKind.BLOCKED_MAPPED_TEAM_MISSING,
                    detail=f"{key} is mapped to team {want.team_id}, which was not found; no second team "
                    "is created -- restore the team or remove the mapping row",
                    team_key=str(key),
                    store=_store(key),
                )
            ]
        return _create(want), []

    tid = team.team_id
    ops: list[Operation] = []
    if not have.mapped:
        ops.append(AdoptTeam(key=key, team_id=tid, reason=f"{key} is mapped to existing team {tid}: adopted"))
    if want.archived:
        # A closed store's team is frozen as it is: only the archive flag is converged.
        if not team.archived:
            ops.append(
                ArchiveTeam(key=key, team_id=tid, reason=f"{_label(key)} is closed (archived, not deleted)")
            )
        return ops, []
    if team.archived:
        ops.append(UnarchiveTeam(key=key, team_id=tid, reason=f"{_label(key)} is open again"))
    ops += _rename(want, team)
    membership, problems = _membership(want, have, team, leavers, settings)
    ops += membership
    ops += _channels(want, team)
    ops += tag_ops(key, want.tags, team)
    if want.plan_title and team.plan is None:
        ops.append(
            CreatePlan(
                key=key,
                team_id=tid,
                title=want.plan_title,
                reason="Planner plan for task mirroring is missing",
            )
        )
    return ops, problems


def _create(want: DesiredTeam) -> list[Operation]:
    key = want.key
    owners = sorted(want.owners)
    first, other_owners = owners[0], owners[1:]
    ops: list[Operation] = [
        CreateTeam(
            key=key,
            display_name=want.display_name,
            mail_nickname=want.mail_nickname,
            description=want.description,
            visibility=want.visibility,
            first_owner=first,
            reason=f"no team yet for {_label(key)}; first owner: {want.why.get(first, first)}",
        )
    ]
    if other_owners:
        ops.append(_add(want, None, other_owners, MemberRole.OWNER))
    if want.members:
        ops.append(_add(want, None, sorted(want.members - want.owners), MemberRole.MEMBER))
    ops += [
        CreateChannel(key=key, name=name, reason=f"channel '{name}' from settings is missing")
        for name in want.channels
    ]
    ops += tag_ops(key, want.tags, None)
    if want.plan_title:
        ops.append(
            CreatePlan(key=key, title=want.plan_title, reason="Planner plan for task mirroring is missing")
        )
    return ops


def _rename(want: DesiredTeam, team: Team) -> list[Operation]:
    name = want.display_name if team.display_name != want.display_name else None
    text = want.description if (team.description or "") != want.description else None
    if name is None and text is None:
        return []
    drift = []
    if name is not None:
        drift.append(f"display name '{team.display_name}' -> '{name}'")
    if text is not None:
        drift.append("description differs from the template")
    return [
        UpdateTeam(
            key=want.key, team_id=team.team_id, display_name=name, description=text, reason="; ".join(drift)
        )
    ]


def _membership(
    want: DesiredTeam,
    have: ActualTeam,
    team: Team,
    leavers: Mapping[str, str],
    settings: ProvisioningSettings,
) -> tuple[list[Operation], list[Problem]]:
    key, tid = want.key, team.team_id
    owners, members = team.owners, team.plain_members - team.owners
    present = owners | members
    want_owners, want_members = want.owners, want.members - want.owners
    strict = settings.membership_mode is MembershipMode.STRICT
    demote = set(want_members & owners) - want.unlicensed_owners  # no licence: not promoted, not demoted
    remove = {
        u
        for u in present - want_owners - want_members
        if strict or u in have.managed_user_ids or u in leavers
    }
    problems: list[Problem] = []
    if owners and not (owners - remove - demote) | want_owners:
        # Never zero owners: keep one (a demotion before a removal, then the smallest id).
        keep = min(demote) if demote else min(remove & owners)
        why = _why_removed(want, have, keep, leavers, strict) if keep in remove else "no longer an owner"
        demote.discard(keep)
        remove.discard(keep)
        problems.append(
            Problem(
                kind=ProblemKind.BLOCKED_LAST_OWNER,
                detail=f"{keep} is the last owner of team {tid} ({key}); kept as owner although {why}",
                team_key=str(key),
                store=_store(key),
            )
        )
    ops: list[Operation] = []
    if add_owners := sorted(want_owners - present):
        ops.append(_add(want, tid, add_owners, MemberRole.OWNER))
    ops += [
        SetRole(
            key=key,
            team_id=tid,
            user_id=u,
            role=MemberRole.OWNER,
            reason=want.why.get(u, "owner in Commerce"),
        )
        for u in sorted(want_owners & members)
    ]
    if add_members := sorted(want_members - present):
        ops.append(_add(want, tid, add_members, MemberRole.MEMBER))
    ops += [
        SetRole(
            key=key,
            team_id=tid,
            user_id=u,
            role=MemberRole.MEMBER,
            reason=f"{want.why.get(u, 'member in Commerce')} (not an owner in Commerce)",
        )
        for u in sorted(demote)
    ]
    ops += [
        RemoveMember(key=key, team_id=tid, user_id=u, reason=_why_removed(want, have, u, leavers, strict))
        for u in sorted(remove)
    ]
    return ops, problems


def _why_removed(
    want: DesiredTeam, have: ActualTeam, user: str, leavers: Mapping[str, str], strict: bool
) -> str:
    if user in leavers:
        return leavers[user]
    if user not in have.managed_user_ids and strict:
        return "not in Commerce (strict membership)"
    match want.key.kind:
        case TeamKind.STORE:
            gone = f"no longer assigned to store {want.key.id} in Commerce"
        case TeamKind.REGION:
            gone = f"no longer in region {want.key.id} in Commerce"
        case TeamKind.COMMUNICATIONS:
            gone = "no longer a region or communications manager in Commerce"
    return f"{gone} (added by the integration)" if user in have.managed_user_ids else gone


def _channels(want: DesiredTeam, team: Team) -> list[Operation]:
    existing = {c.name.casefold() for c in team.channels}
    return [
        CreateChannel(
            key=want.key, team_id=team.team_id, name=name, reason=f"channel '{name}' from settings is missing"
        )
        for name in want.channels
        if name.casefold() not in existing
    ]


def _add(want: DesiredTeam, team_id: str | None, users: list[str], role: MemberRole) -> AddMembers:
    reasons = [want.why.get(u, u) for u in users]
    reason = "; ".join(reasons[:_LISTED])
    if len(reasons) > _LISTED:
        reason += f"; and {len(reasons) - _LISTED} more"
    return AddMembers(key=want.key, team_id=team_id, user_ids=tuple(users), role=role, reason=reason)


def _removals(ops: Iterable[Operation]) -> int:
    return sum(isinstance(op, RemoveMember) for op in ops)


def _mass_removal(team: Team | None, ops: list[Operation], settings: ProvisioningSettings) -> bool:
    """More than max_removal_ratio of a team's current people removed at once looks like a broken
    export, not a real change: the whole team plan is held (vdirsyncer's empty-side guard)."""
    size = len(team.members) if team else 0
    if size == 0 or size < settings.max_removal_min_team_size:
        return False
    return _removals(ops) > settings.max_removal_ratio * size


def _mass_removal_problem(
    key: TeamKey, team: Team | None, ops: list[Operation], settings: ProvisioningSettings
) -> Problem:
    size = len(team.members) if team else 0
    return Problem(
        kind=ProblemKind.HELD_MASS_REMOVAL,
        detail=f"plan for {key} removes {_removals(ops)} of {size} members, more than max_removal_ratio="
        f"{settings.max_removal_ratio}; held until confirmed",
        team_key=str(key),
        store=_store(key),
    )


def _label(key: TeamKey) -> str:
    return f"store {key.id}" if key.kind is TeamKind.STORE else str(key)


def _store(key: TeamKey) -> str | None:
    return key.id if key.kind is TeamKind.STORE else None

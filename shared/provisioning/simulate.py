"""Executing a plan on paper: the actual state as it would be after `Plan.operations` succeed.

Used by the property tests (plan, apply, plan again must be empty) and by dry-run reports. Held
operations are not applied. People added by an operation become "managed" (the integration's).
"""

from __future__ import annotations

from collections.abc import Callable

from shared.domain import (
    ActualState,
    ActualTeam,
    AddMembers,
    AddTagMember,
    AdoptTeam,
    ArchiveTeam,
    Channel,
    CreateChannel,
    CreatePlan,
    CreateTag,
    CreateTeam,
    DeleteTag,
    Member,
    MemberRole,
    Operation,
    Plan,
    PlanRef,
    RemoveMember,
    RemoveTagMember,
    SetRole,
    Tag,
    Team,
    TeamKey,
    UnarchiveTeam,
    UpdateTeam,
)


class SimulationError(ValueError):
    """The plan cannot be executed on this state (e.g. it creates a second team for a key)."""


def apply(plan: Plan, actual: ActualState, *, new_team_id: Callable[[TeamKey], str]) -> ActualState:
    """`actual` after every operation of `plan` (not the held ones), in order."""
    teams = dict(actual.teams)
    for op in plan.operations:
        key = str(op.key)
        teams[key] = _apply(op, teams.get(key) or ActualTeam(key=op.key), new_team_id)
    return ActualState(teams=dict(sorted(teams.items())))


def _apply(op: Operation, current: ActualTeam, new_team_id: Callable[[TeamKey], str]) -> ActualTeam:
    if isinstance(op, CreateTeam):
        if current.team is not None:
            raise SimulationError(f"plan creates a second team for {op.key} (has {current.team.team_id})")
        team = Team(
            team_id=new_team_id(op.key),
            display_name=op.display_name,
            description=op.description,
            mail_nickname=op.mail_nickname,
            visibility=op.visibility,
            members=(Member(user_id=op.first_owner, role=MemberRole.OWNER),),
        )
        return current.model_copy(
            update={"team": team, "managed_user_ids": frozenset({op.first_owner}), "mapped": True}
        )
    if isinstance(op, AdoptTeam):
        team = current.team or Team(team_id=op.team_id, display_name="")
        return current.model_copy(update={"team": team, "mapped": True})
    if current.team is None:
        raise SimulationError(f"{op.op} for {op.key}, which has no team")
    team = current.team
    managed = current.managed_user_ids
    if isinstance(op, AddMembers):
        roles = {m.user_id: m.role for m in team.members} | dict.fromkeys(op.user_ids, op.role)
        team = _with_members(team, roles)
        managed = managed | frozenset(op.user_ids)
    elif isinstance(op, RemoveMember):
        team = _with_members(team, {m.user_id: m.role for m in team.members if m.user_id != op.user_id})
        managed = managed - {op.user_id}
    elif isinstance(op, SetRole):
        roles = {m.user_id: m.role for m in team.members}
        if op.user_id not in roles:
            raise SimulationError(f"set_role for {op.user_id}, who is not in team {team.team_id}")
        team = _with_members(team, roles | {op.user_id: op.role})
    else:
        team = _team_op(op, team)
    return current.model_copy(update={"team": team, "managed_user_ids": managed})


def _team_op(op: Operation, team: Team) -> Team:
    update: dict[str, object] = {}
    if isinstance(op, UpdateTeam):
        if op.display_name is not None:
            update["display_name"] = op.display_name
        if op.description is not None:
            update["description"] = op.description
    elif isinstance(op, CreateChannel):
        if all(c.name.casefold() != op.name.casefold() for c in team.channels):
            update["channels"] = (*team.channels, Channel(name=op.name))
    elif isinstance(op, CreatePlan):
        update["plan"] = team.plan or PlanRef(plan_id=f"{team.team_id}/plan", title=op.title)
    elif isinstance(op, ArchiveTeam | UnarchiveTeam):
        update["archived"] = isinstance(op, ArchiveTeam)
    elif isinstance(op, CreateTag | AddTagMember | RemoveTagMember | DeleteTag):
        update["tags"] = _tag_op(op, list(team.tags or ()))
    return team.model_copy(update=update)


def _tag_op(op: CreateTag | AddTagMember | RemoveTagMember | DeleteTag, tags: list[Tag]) -> tuple[Tag, ...]:
    if isinstance(op, CreateTag):
        tag = Tag(tag_id=f"tag-{op.name}", name=op.name, members={u: f"m-{u}" for u in op.user_ids})
        return (*tags, tag)
    out = []
    for tag in tags:
        if tag.tag_id != op.tag_id:
            out.append(tag)
        elif isinstance(op, AddTagMember):
            out.append(tag.model_copy(update={"members": {**tag.members, op.user_id: f"m-{op.user_id}"}}))
        elif isinstance(op, RemoveTagMember):
            out.append(
                tag.model_copy(update={"members": {u: m for u, m in tag.members.items() if u != op.user_id}})
            )
    return tuple(out)


def _with_members(team: Team, roles: dict[str, MemberRole]) -> Team:
    upns = {m.user_id: m.upn for m in team.members}
    members = tuple(Member(user_id=u, role=r, upn=upns.get(u)) for u, r in sorted(roles.items()))
    return team.model_copy(update={"members": members})

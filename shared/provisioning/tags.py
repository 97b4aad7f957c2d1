"""Role tags: Commerce job -> a Teams tag on the store team (pure).

Desired: every configured tag name, holding the team's people whose active assignment at the
store has that job. Plan: a missing tag with people is created (with its members); people who
gained the role are tagged, people who lost it untagged; a kept tag nobody holds any more is
deleted. Only tags whose names are configured are touched (tags made by hand are left alone);
names compare case-insensitively. Graph's limits (teamworktag-post; Teams limits page): a name of
at most 40 characters, 25 members at creation (the rest are added after), 200 members per tag.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from shared.domain import (
    AddTagMember,
    CreateTag,
    DeleteTag,
    Operation,
    RemoveTagMember,
    StoreAssignment,
    Team,
    TeamKey,
)

MAX_NAME = 40
MAX_MEMBERS = 200


def tag_name(name: str) -> str:
    return " ".join(name.split())[:MAX_NAME]


def desired_tags(
    role_tags: Mapping[str, str],
    assignments: Iterable[StoreAssignment],
    user_of: Mapping[str, str],
    people: Iterable[str],
) -> dict[str, frozenset[str]]:
    """Tag name -> user ids of `people` (the team's desired owners and members) whose job maps
    to it. `user_of`: personnel number -> user id."""
    jobs = {j.casefold(): tag_name(t) for j, t in role_tags.items() if tag_name(t)}
    present = set(people)
    out: dict[str, set[str]] = {name: set() for name in jobs.values()}
    for a in assignments:
        name = jobs.get((a.job or "").casefold())
        user = user_of.get(a.personnel_number)
        if name and user is not None and user in present:
            out[name].add(user)
    return {name: frozenset(sorted(users)[:MAX_MEMBERS]) for name, users in out.items()}


def tag_ops(key: TeamKey, want: Mapping[str, frozenset[str]], team: Team | None) -> list[Operation]:
    """The operations that make `team`'s configured tags hold `want` (a team to be created:
    `team` None). Nothing when the team's tags were not read."""
    if team is not None and team.tags is None:
        return []
    have = {t.name.casefold(): t for t in ((team.tags or ()) if team is not None else ())}
    tid = team.team_id if team is not None else None
    ops: list[Operation] = []
    for name, users in sorted(want.items()):
        tag = have.get(name.casefold())
        if tag is None:
            if users:
                ops.append(
                    CreateTag(key=key, team_id=tid, name=name, user_ids=tuple(sorted(users)),
                              reason=f"tag '{name}' for {len(users)} people with that role in Commerce")
                )  # fmt: skip
            continue
        assert tid is not None
        if not users:
            ops.append(
                DeleteTag(
                    key=key, team_id=tid, tag_id=tag.tag_id, reason=f"nobody has the role of tag '{name}'"
                )
            )
            continue
        ops += [
            AddTagMember(key=key, team_id=tid, tag_id=tag.tag_id, user_id=u,
                         reason=f"has the role of tag '{name}' in Commerce")
            for u in sorted(users - set(tag.members))
        ]  # fmt: skip
        ops += [
            RemoveTagMember(key=key, team_id=tid, tag_id=tag.tag_id, member_id=tag.members[u], user_id=u,
                            reason=f"no longer has the role of tag '{name}' in Commerce")
            for u in sorted(set(tag.members) - users)
        ]  # fmt: skip
    return ops


__all__ = ["desired_tags", "tag_name", "tag_ops"]

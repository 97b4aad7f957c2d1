"""Seed the Graph sandbox from an org file: the `directory` users, then the `existing_teams`
created through Graph's own API as a person would (POST /teams with an owner, then members).

Graph chooses team ids, so the Commerce sandbox is seeded afterwards from a copy of the org
whose existing teams carry the real ids (`team_id`): its mapping rows then point at real teams.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.stack.core import Stack


def _directory_user(entry: dict[str, Any]) -> dict[str, Any]:
    upn = str(entry["upn"])
    user: dict[str, Any] = {
        "userPrincipalName": upn,
        "displayName": entry.get("display_name") or upn.split("@")[0],
        "mail": entry.get("mail") or upn,
        "accountEnabled": entry.get("account_enabled", True),
    }
    if entry.get("employee_id"):
        user["employeeId"] = str(entry["employee_id"])
    if entry.get("id"):
        user["id"] = str(entry["id"])
    if entry.get("teams_licence") is False:  # no licence at all (local/graph/licences.py)
        user["_licences"] = []
    return user


async def _create_teams(stack: Stack, teams: list[dict[str, Any]]) -> dict[str, str]:
    from shared.domain.teams import MemberRole
    from shared.graph import Gateway
    from shared.settings import GraphSettings

    gateway = Gateway(
        GraphSettings(base_url=stack.graph.base_url, auth="static_token", static_token=stack.graph.token)
    )
    created: dict[str, str] = {}
    try:
        for team in teams:
            owners = [str(u) for u in team.get("owners", [])]
            members = [str(u) for u in team.get("members", []) if u not in owners]
            people = await gateway.resolve_upns(owners + members)
            owner_ids = [people[u].user_id for u in owners if u in people]
            member_ids = [people[u].user_id for u in members if u in people]
            if not owner_ids:
                # Graph refuses an app-only team without an owner; a person creating the team owns it.
                if not member_ids:
                    stack.say(
                        f"  existing team of store {team['store']}: "
                        "no owner or member in the directory; skipped"
                    )
                    continue
                owner_ids, member_ids = member_ids[:1], member_ids[1:]
                stack.say(
                    f"  existing team of store {team['store']}: "
                    "no owner in the directory; the first member owns it"
                )
            team_id = await gateway.create_team(display_name=str(team["display_name"]), owner_id=owner_ids[0])
            rest = [(u, MemberRole.OWNER) for u in owner_ids[1:]] + [
                (u, MemberRole.MEMBER) for u in member_ids
            ]
            if rest:
                await gateway.add_members(team_id, rest, new_team=True)
            created[str(team["store"])] = team_id
            stack.say(f"  existing team {team['display_name']!r} (store {team['store']}): {team_id}")
    finally:
        await gateway.aclose()
    return created


def seed_graph(stack: Stack, org_path: Path) -> tuple[Path, dict[str, str]]:
    """Seed users and existing teams; returns the org file to seed Commerce with and the team ids."""
    org = json.loads(Path(org_path).read_text(encoding="utf-8"))
    users = [_directory_user(u) for u in org.get("directory", [])]
    if users:
        stack.graph.seed_users(users)
    stack.say(f"  {len(users)} directory users")
    teams = list(org.get("existing_teams", []))
    created = stack.loop.run(_create_teams(stack, teams)) if teams else {}
    kept = []
    for team in teams:
        if str(team["store"]) in created:
            kept.append({**team, "team_id": created[str(team["store"])]})
    org["existing_teams"] = kept
    out = stack.data / "org.json"
    out.write_text(json.dumps(org, indent=2), encoding="utf-8")
    return out, created

"""Issue #17: a team is adopted by its display name only when this app set out to create it; a
same-name team somebody else made first is reported, never taken over (flexible mode would let
its creator keep ownership of the store's team)."""

from __future__ import annotations

from typing import Any

from shared.domain.commerce import CommerceOrg
from shared.domain.plan import Problem, ProblemKind
from shared.domain.teams import Identity, Team, TeamKey
from shared.settings import Settings
from shared.state import StateStore
from shared.state import teams as team_records
from shared.sync.team_pass import actual_team

KEY = TeamKey.store("0099")
NAME = "Store X (0099)"
SQUAT = "0f6d9c1e-1111-4d2b-9a5e-000000000099"


class OneTeamNamedLikeTheStore:
    """The gateway port as team_pass sees it, answering from a fixed directory of one team."""

    def __init__(self) -> None:
        self.read: list[str] = []

    async def resolve_upns(self, upns: Any) -> dict[str, Identity]:
        return {}

    async def get_team_state(
        self, team_id: str, plan_title: str | None = None, *, with_tags: bool = False
    ) -> Team | None:
        self.read.append(team_id)
        return Team(team_id=team_id, display_name=NAME)

    async def find_teams(
        self, *, mail_nickname: str | None = None, display_name: str | None = None
    ) -> list[Team]:
        return [Team(team_id=SQUAT, display_name=NAME)] if display_name == NAME else []


async def test_a_same_name_team_the_app_did_not_create_is_reported_not_adopted(state: StateStore) -> None:
    gateway = OneTeamNamedLikeTheStore()
    problems: list[Problem] = []
    actual = await actual_team(KEY, CommerceOrg(), None, gateway, Settings(), NAME, state, problems)
    assert actual.team is None and gateway.read == []
    assert [p.kind for p in problems] == [ProblemKind.NAME_TAKEN] and SQUAT in problems[0].detail


async def test_the_team_an_interrupted_create_of_this_app_left_is_adopted(state: StateStore) -> None:
    await team_records.note_team_creation(state, str(KEY), NAME)
    gateway = OneTeamNamedLikeTheStore()
    problems: list[Problem] = []
    actual = await actual_team(KEY, CommerceOrg(), None, gateway, Settings(), NAME, state, problems)
    assert actual.team is not None and actual.team.team_id == SQUAT and problems == []

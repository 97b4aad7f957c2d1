"""The store -> team mapping written back to Commerce (pure).

Microsoft's POS task integration finds a store's team through Commerce's "Teams mapping between
source and team" entity (SOURCETYPE `RetailStore`, SOURCEID = store number, TEAMID = the team's
GUID; "Map stores to existing teams", commerce-teams-domain research MAP). A team this app creates
or adopts is written there, so Commerce's own features see it. Idempotent: nothing is written when
the row already names the team; a row naming another team is never overwritten (someone mapped
the store by hand, or to a team the app does not keep) -- it is reported instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.domain.commerce import TeamMapping, TeamSourceType
from shared.domain.plan import Problem, ProblemKind


class MappingWrite(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Literal["create"] = "create"
    row: TeamMapping
    reason: str


def mapping_write(
    store: str, team_id: str, rows: Iterable[TeamMapping], *, adopted_from_commerce: bool = False
) -> MappingWrite | Problem | None:
    """What to write so Commerce maps `store` to `team_id`: None when it already does; a create
    when Commerce has no row for the store; a Problem when a row names another team (never
    overwritten). `adopted_from_commerce`: the app took the team from Commerce's row itself."""
    mine = [r for r in rows if r.source_type is TeamSourceType.STORE and r.source_id == store]
    want = TeamMapping(source_type=TeamSourceType.STORE, source_id=store, team_id=team_id)
    if any(r.team_id.lower() == team_id.lower() for r in mine):
        return None
    if not mine:
        why = "adopted team" if adopted_from_commerce else "team kept by the integration"
        return MappingWrite(
            action="create", row=want, reason=f"Commerce has no Teams mapping for store {store} ({why})"
        )
    others = ", ".join(sorted(r.team_id for r in mine))
    return Problem(
        kind=ProblemKind.MAPPING_CONFLICT,
        detail=f"Commerce maps store {store} to team {others}, but the integration keeps team {team_id}; "
        "the Commerce row is not overwritten -- correct or delete it in Commerce (Data management, "
        "'Teams mapping between source and team')",
        store=store,
        team_key=f"store:{store}",
    )


__all__ = ["MappingWrite", "mapping_write"]

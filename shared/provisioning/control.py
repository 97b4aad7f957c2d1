"""The kill switch and per-store / per-region opt-out as a pure rule over a computed plan.

Like the Shifts connector's `SuspendAllSyncs` and its per-team enable flag: a suspended or
excluded key is still read, planned and reported -- every operation the plan would run is moved
to `held` with a problem that says why, so a dry run, the ops page and the drift report show
exactly what lifting the switch would do. Nothing here does I/O (shared/control/ reads the
runtime switch).
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from shared.domain.plan import Plan, Problem, ProblemKind
from shared.domain.teams import TeamKey, TeamKind


class WriteGate(BaseModel):
    """What may be written this pass: the switch (with who/why) and the opt-out lists."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    suspended: bool = False
    reason: str = ""
    excluded_stores: frozenset[str] = frozenset()
    excluded_regions: frozenset[str] = frozenset()


def closed_for(key: TeamKey, places: Iterable[str | None], gate: WriteGate) -> Problem | None:
    """Why `key` must not be written, or None. `places` are the region and district of a store
    key (or the region id of a region key). The switch wins over an exclusion."""
    store = key.id if key.kind is TeamKind.STORE else None
    if gate.suspended:
        why = f" ({gate.reason})" if gate.reason else ""
        return Problem(
            kind=ProblemKind.SUSPENDED,
            detail=f"all writes are suspended{why}; {key} is planned and reported, not written",
            team_key=str(key),
            store=store,
        )
    if store is not None and store in gate.excluded_stores:
        return Problem(
            kind=ProblemKind.EXCLUDED,
            detail=f"store {store} is excluded (control.excluded_stores); planned, not written",
            team_key=str(key),
            store=store,
        )
    regions = sorted({p for p in places if p} & gate.excluded_regions)
    if key.kind is TeamKind.REGION and key.id in gate.excluded_regions:
        regions = [key.id]
    if regions and key.kind in (TeamKind.STORE, TeamKind.REGION):
        what = f"store {store}" if store is not None else str(key)
        return Problem(
            kind=ProblemKind.EXCLUDED,
            detail=f"{what} is in excluded region {', '.join(regions)} (control.excluded_regions); "
            "planned, not written",
            team_key=str(key),
            store=store,
        )
    return None


def gated(p: Plan, problem: Problem | None) -> Plan:
    """`p` with every operation held for `problem` (unchanged when None). A plan with nothing to
    do gets no problem: a suspended key that is converged is simply converged."""
    if problem is None or not p.operations:
        return p
    return p.model_copy(
        update={"operations": (), "held": (*p.held, *p.operations), "problems": (*p.problems, problem)}
    )


__all__ = ["WriteGate", "closed_for", "gated"]

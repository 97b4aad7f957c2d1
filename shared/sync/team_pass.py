"""One sync pass for one team: read the truth, plan, act, record. The reconcile contract:

Level-based and idempotent: a pass reads Commerce's *current* state for its key and Teams'
*actual* state, so duplicate, late or out-of-order triggers are harmless and a repeated pass
makes no writes. Errors from Graph or Commerce raise (the orchestration retries the activity with
backoff; Graph throttling is already handled inside the gateway); problems that retrying cannot
fix (no owner, unresolved identity, a held plan) are recorded and reported, not raised. The
nightly reconciliation is this same pass over every key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from shared import spine
from shared.commerce.errors import CommerceError, CommerceUnavailable, Throttled
from shared.control import write_gate
from shared.domain.commerce import CommerceOrg, TeamMapping, TeamSourceType
from shared.domain.execution import ExecutionResult, OutcomeStatus
from shared.domain.plan import CreateTeam, DesiredState, Operation, Plan, Problem, ProblemKind
from shared.domain.teams import ActualState, ActualTeam, Identity, Team, TeamKey, TeamKind
from shared.drift.echoes import note_plan_changes
from shared.provisioning import desired, plan
from shared.provisioning.control import closed_for, gated
from shared.provisioning.writeback import mapping_write
from shared.settings import Settings
from shared.state import CachedIdentity, StateStore, TeamRecord
from shared.state import teams as team_records
from shared.sync import records as sync_records
from shared.sync.nightly import fingerprint
from shared.sync.records import SyncRecord

_BLOCKING = {
    ProblemKind.BLOCKED_NO_OWNER,
    ProblemKind.BLOCKED_LAST_OWNER,
    ProblemKind.BLOCKED_MAPPED_TEAM_MISSING,
    ProblemKind.BLOCKED_NO_LICENCE,
}
_SOURCE = {
    TeamKind.STORE: TeamSourceType.STORE,
    TeamKind.REGION: TeamSourceType.REGION,
    TeamKind.COMMUNICATIONS: TeamSourceType.COMMUNICATIONS,
}


class CommerceReader(Protocol):
    async def read_scope(self, key: TeamKey) -> CommerceOrg:
        """The slice of the org a key's team depends on (a store: the store, its assignments,
        those workers, its region(s) and mapping rows; the communications team: regions, managers)."""
        ...

    async def read_scopes(self, keys: Sequence[TeamKey]) -> dict[TeamKey, CommerceOrg]:
        """The slices of several keys at once, in bulk where it can (stores); a key it leaves
        out is read by `read_scope`."""
        ...

    async def read_org(self) -> CommerceOrg: ...

    async def store_numbers(self) -> list[str]: ...

    async def region_ids(self) -> list[str]: ...

    async def stores_of_worker(self, personnel_number: str) -> list[str]: ...

    async def stores_in_region(self, region: str) -> list[str]: ...

    async def store_of_channel(self, channel: str) -> str | None: ...

    async def create_team_mapping(self, mapping: TeamMapping) -> None:
        """POST a row of Commerce's "Teams mapping between source and team" entity."""
        ...


class IdentityResolver(Protocol):
    async def resolve_upns(self, upns: Any) -> dict[str, Identity]: ...


class TeamsGateway(IdentityResolver, Protocol):
    async def get_team_state(
        self, team_id: str, plan_title: str | None = None, *, with_tags: bool = False
    ) -> Team | None: ...

    async def find_teams(
        self, *, mail_nickname: str | None = None, display_name: str | None = None
    ) -> list[Team]: ...


class PlanExecutor(Protocol):
    async def __call__(self, plan: Plan) -> ExecutionResult: ...


@dataclass(frozen=True, kw_only=True)
class PassResult(spine.PassResult):
    """A team pass. `outcome`: converged | changed | held | blocked | failed | would_change (dry
    run), suspended | excluded (docs/control.md), or busy (the team's lease was held:
    shared.spine.run_pass)."""

    operations: list[dict[str, Any]] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    team_id: str | None = None
    dry_run: bool = False
    graph_requests: int = 0

    def summary(self) -> dict[str, Any]:
        return {"operations": len(self.operations), "problems": len(self.problems)}

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "outcome": self.outcome,
            "operations": self.operations,
            "held": self.held,
            "problems": [p.model_dump(mode="json") for p in self.problems],
            "team_id": self.team_id,
            "dry_run": self.dry_run,
            "graph_requests": self.graph_requests,
            "covered": self.covered,
        }


async def resolve_identities(
    org: CommerceOrg,
    gateway: IdentityResolver,
    cache: dict[str, CachedIdentity] | None = None,
    max_age: timedelta = timedelta(0),
    now: datetime | None = None,
    *,
    licences: bool = False,
) -> dict[str, Identity]:
    """Personnel number -> Entra user. Object ids from Commerce are taken as they are; UPNs are
    looked up (in $batch calls); a worker with neither, or an unknown UPN, is left out.

    Each look-up also says whether a Teams service plan is enabled (`Identity.teams_licensed`).
    With `licences`, workers known by object id are looked up as well (for their licence only),
    and a cached entry that does not know the licence counts as a miss.

    `cache` (UPN in lower case, or object id -> user id, licence and when it was resolved; the
    team record's) answers for entries resolved less than `max_age` ago; it is updated in place
    with what was looked up, and loses entries that are no longer in the org or no longer resolve."""
    identities: dict[str, Identity] = {}
    keys: dict[str, str] = {}  # look-up key -> personnel number
    for w in org.workers:
        if w.entra_object_id:
            identities[w.personnel_number] = Identity(user_id=w.entra_object_id, upn=w.upn)
            if licences:
                keys[w.entra_object_id.lower()] = w.personnel_number
        elif w.upn:
            keys[w.upn.lower()] = w.personnel_number
    now = now or datetime.now(UTC)
    fresh: set[str] = set()
    if cache is not None:
        for stale in [k for k in cache if k not in keys]:
            del cache[stale]
        for k, hit in cache.items():
            if (
                max_age > timedelta(0)
                and now - hit.at < max_age
                and not (licences and hit.teams_licensed is None)
            ):
                pn = keys[k]
                known = identities.get(pn)
                upn = known.upn if known else k
                identities[pn] = Identity(user_id=hit.user_id, upn=upn, teams_licensed=hit.teams_licensed)
                fresh.add(k)
    wanted = sorted(k for k in keys if k not in fresh)
    if wanted:
        found = {key.lower(): ident for key, ident in (await gateway.resolve_upns(wanted)).items()}
        for k in wanted:
            ident = found.get(k)
            pn = keys[k]
            if ident is not None:
                known = identities.get(pn)
                if known is not None:  # Commerce's object id stays the identity; Entra adds the licence
                    ident = known.model_copy(update={"teams_licensed": ident.teams_licensed})
                identities[pn] = ident
                if cache is not None:
                    cache[k] = CachedIdentity(
                        user_id=ident.user_id, at=now, teams_licensed=ident.teams_licensed
                    )
            elif cache is not None:
                cache.pop(k, None)
    return identities


def _only(want: DesiredState, key: TeamKey) -> DesiredState:
    """The desired state restricted to one key (plan() leaves keys it is not given alone)."""
    label = str(key)
    store = key.id if key.kind is TeamKind.STORE else None
    problems = tuple(
        p
        for p in want.problems
        if p.team_key == label or (p.team_key is None and store is not None and p.store == store)
    )
    teams = {label: want.teams[label]} if label in want.teams else {}
    return want.model_copy(update={"teams": teams, "problems": problems})


def _describe(ops: tuple[Operation, ...]) -> list[dict[str, Any]]:
    return [
        {
            "op": op.op,
            "reason": op.reason,
            **({"user_id": op.user_id} if hasattr(op, "user_id") else {}),
            **({"count": len(op.user_ids)} if hasattr(op, "user_ids") else {}),
        }
        for op in ops
    ]


async def actual_team(
    key: TeamKey,
    org: CommerceOrg,
    record: TeamRecord | None,
    gateway: TeamsGateway,
    settings: Settings,
    display_name: str | None,
    state: StateStore | None = None,
    problems: list[Problem] | None = None,
) -> ActualTeam:
    """What exists in Teams for `key`: the team our mapping names; else the team Commerce's
    mapping names (adopted); else a team already carrying the desired name, adopted only when
    this app set out to create exactly that team (`StateStore.note_team_creation`, written before
    every create): a team a crashed pass created before it could record it, adopted rather than
    created twice. A same-name team anyone else made (say "Store X (0099)" created before
    provisioning) is NOT adopted: it is reported (`ProblemKind.NAME_TAKEN` into `problems`) and
    the app creates its own."""
    plan_title = settings.provisioning.plan_title if key.kind is TeamKind.STORE else None
    tags = key.kind is TeamKind.STORE and bool(settings.provisioning.role_tags)
    managed = frozenset(record.managed_user_ids) if record else frozenset()
    if record is not None:
        return ActualTeam(
            key=key,
            team=await gateway.get_team_state(record.team_id, plan_title, with_tags=tags),
            managed_user_ids=managed,
        )
    source = _SOURCE[key.kind]
    mapped = next(
        (
            m.team_id
            for m in sorted(org.mappings, key=lambda m: m.team_id)
            if m.source_type is source and (key.kind is TeamKind.COMMUNICATIONS or m.source_id == key.id)
        ),
        None,
    )
    if mapped is not None:
        team = await gateway.get_team_state(mapped, plan_title, with_tags=tags)
        return ActualTeam(key=key, team=team, mapped=False)
    if display_name:
        same_name = [
            t for t in await gateway.find_teams(display_name=display_name) if t.display_name == display_name
        ]
        ours = state is not None and await team_records.team_creation(state, str(key)) == display_name
        if len(same_name) == 1 and ours:
            team = await gateway.get_team_state(same_name[0].team_id, plan_title, with_tags=tags)
            return ActualTeam(key=key, team=team, mapped=False)
        if same_name and problems is not None:
            problems.append(
                Problem(
                    kind=ProblemKind.NAME_TAKEN,
                    detail=f"{len(same_name)} team(s) named {display_name!r} exist that this app did "
                    f"not create and no mapping names ({', '.join(t.team_id for t in same_name)}); "
                    "not adopted. Map the right one in Commerce, or rename or delete the others.",
                    team_key=str(key),
                )
            )
    return ActualTeam(key=key)


def _places(key: TeamKey, org: CommerceOrg) -> tuple[str | None, ...]:
    """The region and district a key sits in (for the per-region opt-out)."""
    if key.kind is TeamKind.REGION:
        return (key.id,)
    store = org.store(key.id) if key.kind is TeamKind.STORE else None
    return (store.region, store.district) if store else ()


def _outcome(p: Plan, result: ExecutionResult | None, dry_run: bool) -> str:
    if result is not None and any(
        o.status in (OutcomeStatus.FAILED, OutcomeStatus.SKIPPED) for o in result.outcomes
    ):
        return "failed"
    if p.held:
        return "held"
    if any(pr.kind in _BLOCKING for pr in p.problems) and not p.operations:
        return "blocked"
    if not p.operations:
        return "converged"
    return "would_change" if dry_run else "changed"


def busy_result(key: str) -> PassResult:
    """The team's lease was held by another pass (shared.spine.run_pass)."""
    return PassResult(key=key, outcome=spine.BUSY)


@dataclass(frozen=True)
class PassReading:
    """What a pass read and planned for one key: the Commerce slice (and its mapping rows as
    Commerce has them), the identities it resolved, the desired team (with why each person is in
    it), the actual team and the plan. The pass acts on it; `cts explain` (shared/sync/explain.py)
    shows it."""

    org: CommerceOrg
    commerce_rows: tuple[TeamMapping, ...]
    record: TeamRecord | None
    identities: dict[str, Identity]
    cache: dict[str, CachedIdentity]
    want: DesiredState
    target: Any
    actual: ActualTeam
    plan: Plan
    found: list[Problem]  # what reading Teams reported (e.g. a same-name team not adopted)


async def read_and_plan(
    key: TeamKey,
    *,
    commerce: CommerceReader,
    gateway: TeamsGateway,
    state: StateStore,
    settings: Settings,
    today: date | None = None,
) -> PassReading:
    """Read the truth for `key` (Commerce, the mapping table, Graph) and plan; no writes."""
    label = str(key)
    org = await commerce.read_scope(key)
    commerce_rows = org.mappings  # as Commerce has them (before the app's own mapping joins)
    record = await team_records.get_team(state, label)
    if record is not None:  # the app's own mapping table is part of the truth about what exists
        own = TeamMapping(source_type=_SOURCE[key.kind], source_id=key.id, team_id=record.team_id)
        org = org.model_copy(
            update={
                "mappings": (
                    *[
                        m
                        for m in org.mappings
                        if m.source_type is not own.source_type or m.source_id != own.source_id
                    ],
                    own,
                )
            }
        )
    cache = dict(record.identities) if record is not None else {}
    max_age = timedelta(minutes=settings.graph.identity_cache_minutes)
    identities = await resolve_identities(
        org, gateway, cache, max_age, licences=settings.provisioning.require_teams_licence
    )
    want = _only(desired(org, settings.provisioning, identities, today or datetime.now(UTC).date()), key)
    target = want.teams.get(label)
    found: list[Problem] = []
    actual = await actual_team(
        key, org, record, gateway, settings, target.display_name if target else None, state, found
    )
    if target is None and actual.team is None and record is None:
        # Nothing wanted, nothing there: report why (blocked store, closed store without team...).
        p = plan(want, ActualState(), settings.provisioning)
    else:
        p = plan(want, ActualState(teams={label: actual}), settings.provisioning)
    return PassReading(org, commerce_rows, record, identities, cache, want, target, actual, p, found)


async def sync_team_pass(
    key: TeamKey,
    *,
    commerce: CommerceReader,
    gateway: TeamsGateway,
    execute: PlanExecutor,
    state: StateStore,
    settings: Settings,
    today: date | None = None,
    dry_run: bool = False,
    instance_id: str | None = None,
) -> PassResult:
    """One pass for `key`. Run it through `shared.spine.run_pass` (the team's lease, and the
    request number it covers) unless it is a dry run, which writes nothing."""
    label = str(key)
    r = await read_and_plan(
        key, commerce=commerce, gateway=gateway, state=state, settings=settings, today=today
    )
    org, commerce_rows, record, identities, cache = r.org, r.commerce_rows, r.record, r.identities, r.cache
    target, actual, p, found = r.target, r.actual, r.plan, r.found
    closed = closed_for(key, _places(key, org), await write_gate(state, settings))
    p = gated(p, closed)
    if closed is not None and closed not in p.problems:
        closed = None  # nothing to write: converged as it is

    result: ExecutionResult | None = None
    team_id = actual.team.team_id if actual.team else (record.team_id if record else None)
    problems = list(p.problems) + [pr for pr in found if pr not in p.problems]
    if closed is not None:
        pass  # planned and reported only: no Graph write, no adoption recorded
    elif p.operations and not dry_run:
        for op in p.operations:
            if isinstance(op, CreateTeam):  # the intent first: a crash after the POST can adopt it
                await team_records.note_team_creation(state, label, op.display_name)
        # Mark the plan's changes as the app's own before and after executing it, so Graph's
        # notifications about them are recognised as echoes (docs/drift.md).
        known = {label: team_id} if team_id else {}
        await note_plan_changes(state, p, known)
        result = await execute(p)
        if result.team_ids:
            await note_plan_changes(state, p, result.team_ids)
        problems += [pr for pr in result.problems if pr not in problems]
        await _note_removals(state, label, p, result, identities)
        team_id = result.team_ids.get(label, team_id)

    if closed is None and not dry_run and (result is None or result.ok):
        problems += await _write_back(key, team_id, actual, commerce_rows, commerce, settings)

    outcome = _outcome(p, result, dry_run)
    if closed is not None:
        outcome = "suspended" if closed.kind is ProblemKind.SUSPENDED else "excluded"
    # Converged to `target` (nothing failed or held): the nightly run may skip it until it moves.
    # Not while Commerce refuses the mapping row: without a fingerprint the nightly run reads the
    # team in full and tries the write again, instead of never retrying it.
    refused = any(pr.kind is ProblemKind.MAPPING_NOT_WRITTEN for pr in problems)
    converged = (
        fingerprint(target)
        if outcome in ("converged", "changed") and (result is None or result.ok) and not refused
        else None
    )
    if result is not None:
        await _remember(state, label, team_id, record, target, p, actual, identities, cache, converged)
    elif actual.team is not None and not dry_run and closed is None:  # closed: no adoption recorded
        await _remember(
            state, label, actual.team.team_id, record, target, p, actual, identities, cache, converged
        )

    if not dry_run:
        await sync_records.record_sync(
            state,
            SyncRecord(
                key=label,
                outcome=outcome,
                operations=len(p.operations),
                problems=problems,
                error=None
                if result is None or result.ok
                else "; ".join(o.detail for o in result.outcomes if o.status is OutcomeStatus.FAILED)[:2000],
                instance_id=instance_id,
            ),
        )
    return PassResult(
        key=label,
        outcome=outcome,
        operations=_describe(p.operations),
        held=_describe(p.held),
        problems=problems,
        team_id=team_id,
        dry_run=dry_run,
        graph_requests=result.requests if result else 0,
    )


async def _write_back(
    key: TeamKey,
    team_id: str | None,
    actual: ActualTeam,
    rows: tuple[TeamMapping, ...],
    commerce: CommerceReader,
    settings: Settings,
) -> list[Problem]:
    """The store's team written to Commerce's mapping entity when Commerce lacks it (one POST,
    only then: a pass over a mapped store writes nothing). Returns a conflict to report, if any."""
    if key.kind is not TeamKind.STORE or team_id is None or not settings.commerce.write_team_mappings:
        return []
    decision = mapping_write(key.id, team_id, rows, adopted_from_commerce=not actual.mapped)
    if isinstance(decision, Problem):
        return [decision]
    if decision is not None:
        try:
            await commerce.create_team_mapping(decision.row)
        except (CommerceUnavailable, Throttled):
            raise  # still failing after the client's own retries: the pass is retried
        except CommerceError as exc:
            # Refused (no write permission on the entity, a different entity name...): the Teams
            # side is done, so the pass reports it instead of failing over and over.
            return [
                Problem(
                    kind=ProblemKind.MAPPING_NOT_WRITTEN,
                    detail=f"store {key.id}: Commerce refused the Teams mapping row for team {team_id}: "
                    f"{exc}",
                    store=key.id,
                    team_key=str(key),
                )
            ]
    return []


REMOVALS = "removals-"  # audit kind per person: which team they left, and why (cts explain)


async def _note_removals(
    state: StateStore,
    label: str,
    p: Plan,
    result: ExecutionResult,
    identities: dict[str, Identity],
) -> None:
    """One audit row per person removed, by personnel number when the pass knows it, else by
    Entra user id (someone who left the store is no longer in its Commerce slice), for
    `cts explain`. Never by UPN (state keys are ids)."""
    person_of = {ident.user_id: person for person, ident in identities.items()}
    failed = {o.index for o in result.outcomes if o.status in (OutcomeStatus.FAILED, OutcomeStatus.SKIPPED)}
    for i, op in enumerate(p.operations):
        if op.op == "remove_member" and i not in failed:
            who = person_of.get(op.user_id, op.user_id)
            await state.audit(REMOVALS + who, {"key": label, "reason": op.reason, "team_id": op.team_id})


async def _remember(
    state: StateStore,
    label: str,
    team_id: str | None,
    record: TeamRecord | None,
    target: Any,
    p: Plan,
    actual: ActualTeam,
    identities: dict[str, Identity],
    cache: dict[str, CachedIdentity],
    desired_hash: str | None,
) -> None:
    """Record the team and whom the app manages there: everyone it added, plus desired people
    already present (so a later transfer removes them even in flexible mode), minus removals."""
    if team_id is None:
        return
    managed = set(record.managed_user_ids if record else ())
    for op in p.operations:
        if op.op == "add_members":
            managed.update(op.user_ids)
        elif op.op == "remove_member":
            managed.discard(op.user_id)
    if target is not None and actual.team is not None:
        present = {m.user_id for m in actual.team.members}
        managed.update(u for u in (*target.owners, *target.members) if u in present)
    person_of = {ident.user_id: person for person, ident in identities.items()}
    personnel = sorted(
        {person_of[u] for u in managed if u in person_of}
        | (set(record.managed_personnel) if record else set()) & set(identities)
    )
    updated = TeamRecord(
        key=label,
        team_id=team_id,
        adopted=bool(record.adopted if record else actual.team is not None),
        managed_user_ids=sorted(managed),
        managed_personnel=personnel,
        identities=cache,
        desired_hash=desired_hash,
    )
    if record is None or updated.model_dump(exclude={"updated_at"}) != record.model_dump(
        exclude={"updated_at"}
    ):
        await team_records.put_team(state, updated)


__all__ = [
    "CommerceReader",
    "PassReading",
    "PassResult",
    "TeamsGateway",
    "busy_result",
    "read_and_plan",
    "resolve_identities",
    "sync_team_pass",
]

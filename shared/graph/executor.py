"""Execute a provisioning plan against Graph with as few requests as the API allows.

- CreateTeam: one POST /teams carrying the first owner, then poll(s) of the async operation.
- AddMembers: consecutive AddMembers of one team (owners and members alike) are merged and sent
  in members/add chunks of 200: a 450-person store is 1 create + poll(s) + 3 members/add.
- Small writes (UpdateTeam, RemoveMember, SetRole, CreateChannel, CreatePlan) between two
  bulk operations are sent in $batch calls of up to 20. Owner-reducing writes (remove, demote)
  go in a later batch than promotions in the same run, so a team never loses its last owner
  to request reordering (Graph answers batched requests in any order).
- An operation whose team could not be created is skipped; every other failure is recorded on
  its outcome and as a Problem, and execution goes on with the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.domain.execution import ExecutionResult, MemberFailure, OperationOutcome, OutcomeStatus
from shared.domain.ids import segment
from shared.domain.plan import (
    AddMembers,
    AddTagMember,
    AdoptTeam,
    ArchiveTeam,
    CreateChannel,
    CreatePlan,
    CreateTag,
    CreateTeam,
    DeleteTag,
    Operation,
    Plan,
    Problem,
    ProblemKind,
    RemoveMember,
    RemoveTagMember,
    SetRole,
    UnarchiveTeam,
    UpdateTeam,
)
from shared.domain.teams import MemberRole
from shared.graph.batch import BatchRequest, BatchResponse
from shared.graph.channels import channel_body
from shared.graph.errors import GraphError, PlannerLimitExceeded
from shared.graph.gateway import Gateway
from shared.graph.members import MAX_ADD
from shared.graph.planner import plan_body

_SMALL = (UpdateTeam, RemoveMember, SetRole, CreateChannel, CreatePlan)


@dataclass
class _Run:
    gateway: Gateway
    set_mail_nickname: bool
    team_ids: dict[str, str] = field(default_factory=dict)
    created: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)  # key -> why its team is unusable
    memberships: dict[str, dict[str, str]] = field(default_factory=dict)  # team -> user -> membership
    outcomes: list[OperationOutcome] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    nicknames: list[tuple[str, str]] = field(default_factory=list)  # (team id, nickname)

    def team_of(self, op: Operation) -> str | None:
        explicit = getattr(op, "team_id", None)
        return explicit or self.team_ids.get(str(op.key))

    def record(
        self,
        index: int,
        op: Operation,
        status: OutcomeStatus,
        *,
        detail: str = "",
        error: GraphError | None = None,
        failures: tuple[MemberFailure, ...] = (),
    ) -> None:
        self.outcomes.append(
            OperationOutcome(
                index=index,
                op=op.op,
                team_key=str(op.key),
                status=status,
                team_id=self.team_of(op),
                detail=detail or (str(error) if error else ""),
                error_code=error.code if error else None,
                request_id=error.request_id if error else None,
                member_failures=failures,
            )
        )
        if error is not None:
            kind = (
                ProblemKind.PLANNER_LIMIT
                if isinstance(error, PlannerLimitExceeded)
                else ProblemKind.BLOCKED_NO_LICENCE
                if _no_teams_licence(error)
                else ProblemKind.GRAPH_ERROR
            )
            self.problems.append(
                Problem(
                    kind=kind,
                    detail=f"{op.op}: {error}",
                    team_key=str(op.key),
                    store=op.key.id if op.key.kind.value == "store" else None,
                )
            )


def _no_teams_licence(error: GraphError) -> bool:
    """Teams refusing an owner without a Teams licence (a licence removed after the pass read it):
    'GetApplicableSkuCategoriesForUserFailed' from POST /teams, 'Failed to retrieve appliable Sku
    categories for the user' from the older PUT /groups/{id}/team (microsoftgraph docs issues
    #11979, #3575; docs/provisioning.md "Licences before teams")."""
    text = str(error)
    return "GetApplicableSkuCategoriesForUserFailed" in text or "appliable Sku categories" in text


async def execute_plan(plan: Plan, gateway: Gateway, *, set_mail_nickname: bool = False) -> ExecutionResult:
    """Run `plan.operations` in order; never raises for a Graph error (see the outcomes).

    `set_mail_nickname`: POST /teams cannot set the group's nickname (Graph derives it from the
    display name); when True a PATCH /groups rides along the next $batch (or goes alone)."""
    run = _Run(gateway, set_mail_nickname)
    sent_before = gateway.stats.sent
    ops = list(enumerate(plan.operations))
    for _, op in ops:  # a key's team id named by any operation serves its team_id=None siblings
        explicit = getattr(op, "team_id", None)
        if explicit and not isinstance(op, ArchiveTeam | UnarchiveTeam):
            run.team_ids.setdefault(str(op.key), explicit)
    i = 0
    while i < len(ops):
        index, op = ops[i]
        if isinstance(op, _SMALL):
            j = i
            while j < len(ops) and isinstance(ops[j][1], _SMALL):
                j += 1
            await _small_writes(run, ops[i:j])
            i = j
            continue
        if isinstance(op, AddMembers):
            j = i + 1
            while j < len(ops) and isinstance(ops[j][1], AddMembers) and ops[j][1].key == op.key:
                j += 1
            await _add_members(run, ops[i:j])
            i = j
            continue
        await _single(run, index, op)
        i += 1
    if run.nicknames:
        await _small_writes(run, [])
    return ExecutionResult(
        outcomes=tuple(sorted(run.outcomes, key=lambda o: o.index)),
        problems=tuple(run.problems),
        team_ids=dict(run.team_ids),
        requests=gateway.stats.sent - sent_before,
    )


async def _single(run: _Run, index: int, op: Operation) -> None:
    key = str(op.key)
    if isinstance(op, CreateTeam):
        try:
            team_id = await run.gateway.create_team(
                display_name=op.display_name,
                description=op.description,
                visibility=op.visibility,
                owner_id=op.first_owner,
            )
        except GraphError as exc:
            run.failed[key] = f"team creation failed: {exc}"
            run.record(index, op, OutcomeStatus.FAILED, error=exc)
            return
        run.team_ids[key] = team_id
        run.created.add(key)
        run.memberships[team_id] = {}
        if run.set_mail_nickname:
            run.nicknames.append((team_id, op.mail_nickname))
        run.record(index, op, OutcomeStatus.DONE)
        return
    if isinstance(op, AdoptTeam):
        run.team_ids[key] = op.team_id
        run.record(index, op, OutcomeStatus.DONE)
        return
    if isinstance(op, CreateTag | AddTagMember | RemoveTagMember | DeleteTag):
        await _tag(run, index, op)
        return
    if isinstance(op, ArchiveTeam | UnarchiveTeam):
        try:
            if isinstance(op, ArchiveTeam):
                await run.gateway.archive_team(op.team_id)
            else:
                await run.gateway.unarchive_team(op.team_id)
        except GraphError as exc:
            run.record(index, op, OutcomeStatus.FAILED, error=exc)
            return
        run.record(index, op, OutcomeStatus.DONE)
        return
    raise TypeError(f"unexpected operation {op!r}")


async def _tag(run: _Run, index: int, op: CreateTag | AddTagMember | RemoveTagMember | DeleteTag) -> None:
    team_id = run.team_of(op)
    if team_id is None:
        run.record(index, op, OutcomeStatus.SKIPPED, detail=run.failed.get(str(op.key), "no team"))
        return
    try:
        if isinstance(op, CreateTag):
            await run.gateway.create_tag(team_id, op.name, op.user_ids)
        elif isinstance(op, AddTagMember):
            await run.gateway.add_tag_member(team_id, op.tag_id, op.user_id)
        elif isinstance(op, RemoveTagMember):
            await run.gateway.remove_tag_member(team_id, op.tag_id, op.member_id)
        else:
            await run.gateway.delete_tag(team_id, op.tag_id)
    except GraphError as exc:
        run.record(index, op, OutcomeStatus.FAILED, error=exc)
        return
    run.record(index, op, OutcomeStatus.DONE)


async def _add_members(run: _Run, group: list[tuple[int, Operation]]) -> None:
    first = group[0][1]
    team_id = run.team_of(first)
    if team_id is None:
        for index, op in group:
            run.record(index, op, OutcomeStatus.SKIPPED, detail=run.failed.get(str(first.key), "no team"))
        return
    people: list[tuple[str, MemberRole]] = []
    owner_of: dict[str, int] = {}
    for index, op in group:
        assert isinstance(op, AddMembers)
        for user_id in op.user_ids:
            if user_id not in owner_of:
                owner_of[user_id] = index
                people.append((user_id, op.role))
    failures: list[MemberFailure] = []
    errors: dict[int, GraphError] = {}
    for start in range(0, len(people), MAX_ADD):
        part = people[start : start + MAX_ADD]
        try:
            failures.extend(
                await run.gateway.add_members(team_id, part, new_team=str(first.key) in run.created)
            )
        except GraphError as exc:
            failures.extend(
                MemberFailure(user_id=u, code=exc.code or str(exc.status), message=exc.message)
                for u, _ in part
            )
            for user_id, _ in part:
                errors.setdefault(owner_of[user_id], exc)
    for index, op in group:
        assert isinstance(op, AddMembers)
        mine = tuple(f for f in failures if owner_of.get(f.user_id) == index)
        if not mine:
            run.record(index, op, OutcomeStatus.DONE)
            continue
        status = OutcomeStatus.FAILED if len(mine) == len(set(op.user_ids)) else OutcomeStatus.PARTIAL
        detail = f"{len(mine)} of {len(set(op.user_ids))} not added: " + ", ".join(
            f"{f.user_id} ({f.code})" for f in mine[:10]
        )
        run.record(index, op, status, detail=detail, failures=mine, error=errors.get(index))
        if index not in errors:
            run.problems.append(
                Problem(kind=ProblemKind.GRAPH_ERROR, detail=f"add_members: {detail}", team_key=str(op.key))
            )


async def _small_writes(run: _Run, group: list[tuple[int, Operation]]) -> None:
    """Build one request per operation, in waves (promotions before removals), via $batch."""
    await _load_memberships(run, group)
    waves: list[list[tuple[int, Operation, BatchRequest]]] = [[]]
    promoted: set[str] = set()  # teams with a promotion in the current wave
    for index, op in group:
        team_id = run.team_of(op)
        if team_id is None:
            run.record(index, op, OutcomeStatus.SKIPPED, detail=run.failed.get(str(op.key), "no team"))
            continue
        request = _request(run, index, op, team_id)
        if request is None:
            continue
        reduces = isinstance(op, RemoveMember) or (isinstance(op, SetRole) and op.role is MemberRole.MEMBER)
        if reduces and team_id in promoted:
            waves.append([])
            promoted = set()
        if isinstance(op, SetRole) and op.role is MemberRole.OWNER:
            promoted.add(team_id)
        waves[-1].append((index, op, request))
    extra = [
        BatchRequest(
            f"nick{n}", "PATCH", f"/groups/{segment(tid)}", {"mailNickname": nick}, retry_not_found=True
        )
        for n, (tid, nick) in enumerate(run.nicknames)
    ]
    run.nicknames.clear()
    for number, wave in enumerate(waves):
        requests = [r for _, _, r in wave] + (extra if number == 0 else [])
        if not requests:
            continue
        responses = await run.gateway.batch(requests)
        for index, op, request in wave:
            _judge(run, index, op, responses[request.id])


def _request(run: _Run, index: int, op: Operation, team_id: str) -> BatchRequest | None:
    rid = str(index)
    fresh = str(op.key) in run.created
    if isinstance(op, UpdateTeam):
        body = {
            k: v
            for k, v in {"displayName": op.display_name, "description": op.description}.items()
            if v is not None
        }
        return BatchRequest(rid, "PATCH", f"/teams/{segment(team_id)}", body, retry_not_found=fresh)
    if isinstance(op, CreateChannel):
        return BatchRequest(
            rid, "POST", f"/teams/{segment(team_id)}/channels", channel_body(op.name), retry_not_found=fresh
        )
    if isinstance(op, CreatePlan):
        body = plan_body(run.gateway.client(), team_id, op.title)
        return BatchRequest(rid, "POST", "/planner/plans", body, retry_not_found=fresh)
    assert isinstance(op, RemoveMember | SetRole)
    membership = run.memberships.get(team_id, {}).get(op.user_id)
    if membership is None:
        if isinstance(op, RemoveMember):
            run.record(index, op, OutcomeStatus.ALREADY, detail="not a member")
        else:
            run.record(index, op, OutcomeStatus.FAILED, detail=f"{op.user_id} is not a member")
        return None
    if isinstance(op, RemoveMember):
        return BatchRequest(rid, "DELETE", f"/teams/{segment(team_id)}/members/{segment(membership)}")
    role_body: dict[str, object] = {
        "@odata.type": "#microsoft.graph.aadUserConversationMember",
        "roles": ["owner"] if op.role is MemberRole.OWNER else [],
    }
    return BatchRequest(rid, "PATCH", f"/teams/{segment(team_id)}/members/{segment(membership)}", role_body)


async def _load_memberships(run: _Run, group: list[tuple[int, Operation]]) -> None:
    """One member listing per team that has removals or role changes (membership ids)."""
    for _, op in group:
        if not isinstance(op, RemoveMember | SetRole):
            continue
        team_id = run.team_of(op)
        if team_id is None or (team_id in run.memberships and op.user_id in run.memberships[team_id]):
            continue
        if team_id in run.memberships and str(op.key) not in run.created and run.memberships[team_id]:
            continue
        try:
            listed = await run.gateway.list_members(team_id)
        except GraphError:
            listed = []
        run.memberships[team_id] = {m.user_id: m.membership_id for m in listed if m.membership_id}


def _judge(run: _Run, index: int, op: Operation, response: BatchResponse) -> None:
    if response.ok:
        detail = ""
        if isinstance(op, CreatePlan) and isinstance(response.body, dict):
            detail = f"plan {response.body.get('id')}"
        run.record(index, op, OutcomeStatus.DONE, detail=detail)
    elif response.status == 409 and isinstance(op, CreateChannel):
        run.record(index, op, OutcomeStatus.ALREADY, detail="channel exists")
    elif response.status == 404 and isinstance(op, RemoveMember):
        run.record(index, op, OutcomeStatus.ALREADY, detail="not a member")
    else:
        run.record(index, op, OutcomeStatus.FAILED, error=response.error())

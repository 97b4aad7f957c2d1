"""Tasks made in Teams that become Commerce tasks (pure): which unmirrored Planner task becomes a
new pair, by `tasks.from_teams` and the task's origin.

Microsoft's own integration carries lists published from Teams to POS and lets a store manager
create single-purpose tasks (reference/commerce-teams-domain.md 1.5, 2.1). Two origins count:

- **published**: a list published from Teams (Tasks by Planner -> Published lists). Graph shows
  it read-only in the beta `plannerTask.creationSource` as `plannerTeamsPublicationInfo`
  (publicationId, publicationName, publishingTeamId, publishedToPlanId;
  https://learn.microsoft.com/en-us/graph/api/resources/plannerteamspublicationinfo); v1.0 has no
  `creationSource`, so a v1.0 listing cannot tell a published task from an ad-hoc one.
- **ad hoc**: a task a person created in the store team's plan (`createdBy.user.id`). It becomes a
  Commerce task only when that person is a manager of the store in Commerce: in POS only managers
  create single-purpose tasks (task-mgmt-configure, reference 2.1).

A task an application made (`createdBy.application`: this app's own tasks, an interrupted create's
orphan, another app's) is neither and is never taken.

Each such task becomes one single-purpose store task in the reserved task list `FROM_TEAMS_LIST`
with a task id derived from the Planner task id (`teams_task_id`): the pair key is known before
anything is created, so a re-poll or a crash between the Commerce create and the pair record finds
the task again instead of creating a second one. Two stages:

1. the poll (`teams_candidates`): unmirrored tasks of store plans, not seen before, whose origin
   may be wanted (with a v1.0 listing an undecidable task goes on to stage 2);
2. the pair's pass (`admit`): the beta read of the task gives the origin; the setting and, for an
   ad-hoc task, the creator's role decide; the answer is recorded, so a declined task is never
   asked about again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.planner import PlannerTask
from shared.settings import FromTeams
from shared.tasks.actions import DeletePlannerTask, Report, ReportKind
from shared.tasks.decision import Decision

FROM_TEAMS_LIST = "TEAMS"
"""The TaskListId of single-purpose store tasks made from Teams [ours: the Commerce task entities
are the app's own model, docs/commerce.md]."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OriginKind(StrEnum):
    PUBLISHED = "published"
    ADHOC = "adhoc"


_WANTED: Mapping[FromTeams, frozenset[OriginKind]] = {
    FromTeams.OFF: frozenset(),
    FromTeams.PUBLISHED: frozenset({OriginKind.PUBLISHED}),
    FromTeams.ADHOC: frozenset({OriginKind.ADHOC}),
    FromTeams.ALL: frozenset(OriginKind),
}


def wanted_kinds(setting: FromTeams) -> frozenset[OriginKind]:
    return _WANTED[setting]


def teams_task_id(planner_task_id: str) -> str:
    """The Commerce TaskId of the store task made from a Planner task: 'P' + 16 hex digits of its
    SHA-256. Deterministic (the same Planner task always gives the same id), a valid Commerce id,
    and safe in F&O's case-insensitive keys (Planner ids are case-sensitive)."""
    return "P" + hashlib.sha256(planner_task_id.encode("utf-8")).hexdigest()[:16]


def teams_pair_key(planner_task_id: str, store: str) -> str:
    """'TEAMS/P0123456789abcdef@0042': the pair key of a Planner task made in store 0042's plan."""
    return f"{FROM_TEAMS_LIST}/{teams_task_id(planner_task_id)}@{store}"


def is_teams_key(key: str) -> bool:
    return key.startswith(FROM_TEAMS_LIST + "/")


def possible_kinds(task: PlannerTask, *, origin_known: bool) -> frozenset[OriginKind]:
    """What the task may be. `origin_known`: it was read in the beta representation (which has
    `creationSource`); a v1.0 read leaves a task created by a person undecided between published
    and ad hoc, and one created by an application possibly published."""
    if task.publication is not None:
        return frozenset({OriginKind.PUBLISHED})
    if origin_known:
        return frozenset({OriginKind.ADHOC}) if task.created_by else frozenset()
    return frozenset(OriginKind) if task.created_by else frozenset({OriginKind.PUBLISHED})


def kind_of(task: PlannerTask) -> OriginKind | None:
    """The origin of a task read in the beta representation; None: an application made it."""
    kinds = possible_kinds(task, origin_known=True)
    return next(iter(kinds)) if kinds else None


class TeamsCandidate(_Model):
    """An unmirrored Planner task of a store plan that may become a new pair (poll, stage 1)."""

    key: str
    planner_task_id: str
    plan_id: str
    store: str


def teams_candidates(
    listed: Mapping[str, Sequence[PlannerTask]],
    store_of_plan: Mapping[str, str],
    mirrored: Iterable[str],
    known: Iterable[str],
    setting: FromTeams,
    *,
    origin_known: bool,
) -> tuple[TeamsCandidate, ...]:
    """Tasks of the listed store plans that no pair mirrors (`mirrored`: Planner task ids), whose
    key was never seen (`known`: pair keys and recorded answers) and whose possible origins meet
    the setting. Plans of no known store are left alone. Sorted by key."""
    wanted = wanted_kinds(setting)
    if not wanted:
        return ()
    taken, seen = set(mirrored), set(known)
    out: dict[str, TeamsCandidate] = {}
    for plan_id, tasks in listed.items():
        store = store_of_plan.get(plan_id)
        if store is None:
            continue
        for task in tasks:
            if task.task_id in taken or not possible_kinds(task, origin_known=origin_known) & wanted:
                continue
            key = teams_pair_key(task.task_id, store)
            if key not in seen:
                out[key] = TeamsCandidate(key=key, planner_task_id=task.task_id, plan_id=plan_id, store=store)
    return tuple(out[k] for k in sorted(out))


def plans_for_teams_tasks(store_plans: Mapping[str, str], setting: FromTeams) -> tuple[str, ...]:
    """The store plans the poll lists besides those with open mirrored tasks: every known store
    plan (store -> plan id, the app's own index) when tasks made in Teams are wanted, else none."""
    return tuple(sorted(set(store_plans.values()))) if wanted_kinds(setting) else ()


class Admission(_Model):
    """What the pass decides for a candidate (stage 2), recorded with the candidate."""

    create: bool
    kind: OriginKind | None = None
    created_by: str | None = Field(default=None, description="Personnel number of the creator")
    reason: str


def admit(
    task: PlannerTask,
    store: str,
    setting: FromTeams,
    *,
    creator: str | None,
    managers: frozenset[str],
) -> Admission:
    """Whether a Planner task (read in the beta representation) becomes a Commerce store task.
    `creator`: the personnel number of `createdBy.user` (None: no worker has that Entra user);
    `managers`: the store's managers in Commerce. A published task is taken whoever published it
    (an unmapped publisher leaves CreatedBy empty); an ad-hoc task only from a store manager."""
    kind = kind_of(task)
    if kind is None:
        return Admission(create=False, reason="made by an application, not a person or a publication")
    if kind not in wanted_kinds(setting):
        return Admission(create=False, kind=kind, reason=f"{kind.value} tasks are off (from_teams={setting})")
    if kind is OriginKind.PUBLISHED:
        who = "an unmapped Teams user" if creator is None else creator
        return Admission(create=True, kind=kind, created_by=creator, reason=f"published; created by {who}")
    if creator is None:
        return Admission(create=False, kind=kind, reason="created by a Teams user who is no Commerce worker")
    if creator not in managers:
        return Admission(
            create=False,
            kind=kind,
            created_by=creator,
            reason=f"created by {creator}, not a manager of store {store} (only managers create "
            "single-purpose tasks)",
        )
    return Admission(
        create=True, kind=kind, created_by=creator, reason=f"ad hoc; created by manager {creator}"
    )


def keep_published(decision: Decision) -> Decision:
    """A task published from Teams "can't be deleted" (plannerteamspublicationinfo): a decision
    to delete it (its Commerce task was canceled) leaves it in Teams and says so; the rest of the
    decision (the tombstone) stands."""
    deletes = [a for a in decision.actions if isinstance(a, DeletePlannerTask)]
    if not deletes:
        return decision
    kept = tuple(a for a in decision.actions if not isinstance(a, DeletePlannerTask))
    note = Report(
        key=decision.key,
        kind=ReportKind.MAPPING_PROBLEM,
        detail="published from Teams: the Planner task can't be deleted and is left as it is",
    )
    return decision.model_copy(update={"actions": (*kept, note)})

"""The org file (spec/local-and-cli.md, "Inline org"): schema, validation, and `load_org`.

Extensions to the spec's example, all optional: a store may carry `legal_entity`,
`operating_unit_number` and `channel_id`; a region may carry `parent` (a district's region); a
worker may carry `termination_date` and `entra_object_id`; an assignment may carry `job`;
`communications_managers` lists workers holding the HQ role beyond the region managers (who always
hold it); an existing team may carry `team_id` (otherwise `existing_team_id` derives one); a task
list may carry `description`, `stores` and `target_date` to start out published.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.domain.commerce import (
    CommerceOrg,
    EmploymentStatus,
    Region,
    Store,
    StoreAssignment,
    StoreRole,
    StoreStatus,
    TeamMapping,
    Worker,
)
from shared.domain.tasks import TaskDefinition, TaskList

_TEAM_NAMESPACE = uuid.UUID("6f1d3c2e-5b8a-4c1e-9d7f-2a4b6c8d0e1f")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")  # the Graph side may read more keys


class OrgRegion(_Strict):
    id: str = Field(min_length=1)
    name: str
    managers: list[str] = Field(default_factory=list)
    parent: str | None = None


class OrgStore(_Strict):
    number: str = Field(min_length=1)
    name: str
    region: str | None = None
    status: Literal["open", "closed"] = "open"
    time_zone: str = "UTC"
    legal_entity: str | None = None
    operating_unit_number: str | None = None
    channel_id: str | None = None


class OrgWorker(_Strict):
    personnel_number: str = Field(min_length=1)
    name: str
    upn: str | None = None
    status: Literal["active", "terminated"] = "active"
    termination_date: date | None = None
    entra_object_id: str | None = None


class OrgAssignment(_Strict):
    personnel_number: str
    store: str
    role: Literal["manager", "worker"] = "worker"
    job: str | None = None


class DirectoryUser(_Open):
    upn: str
    display_name: str
    employee_id: str | None = None


class ExistingTeam(_Open):
    store: str
    display_name: str
    owners: list[str] = Field(default_factory=list)
    members: list[str] = Field(default_factory=list)
    team_id: str | None = None


class OrgTask(_Strict):
    id: str = Field(min_length=1)
    name: str
    notes: str = ""
    due_offset_days: int = 0
    contact_person: str | None = None
    link: str | None = None
    priority: Literal["urgent", "important", "medium", "low"] | None = None


class OrgTaskList(_Strict):
    id: str = Field(min_length=1)
    name: str
    description: str = ""
    tasks: list[OrgTask] = Field(default_factory=list)
    stores: list[str] = Field(default_factory=list)
    target_date: date | None = None


class OrgFile(_Strict):
    legal_entity: str = "USRT"
    regions: list[OrgRegion] = Field(default_factory=list)
    stores: list[OrgStore] = Field(default_factory=list)
    workers: list[OrgWorker] = Field(default_factory=list)
    assignments: list[OrgAssignment] = Field(default_factory=list)
    directory: list[DirectoryUser] = Field(default_factory=list)
    existing_teams: list[ExistingTeam] = Field(default_factory=list)
    task_lists: list[OrgTaskList] = Field(default_factory=list)
    communications_managers: list[str] = Field(default_factory=list)


class OrgFileError(ValueError):
    """The org file is not valid; the message lists every problem with its location."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{source}: invalid org file:\n  " + "\n  ".join(problems))


class LoadedOrg(NamedTuple):
    org: CommerceOrg
    directory: list[DirectoryUser]
    existing_teams: list[ExistingTeam]
    task_lists: list[TaskList]


def existing_team_id(team: ExistingTeam) -> str:
    """The id of a pre-existing team: its `team_id`, or a UUID derived from the store number (the
    Graph sandbox seeds the team with the same id, so the Commerce mapping row points at it)."""
    return team.team_id or str(uuid.uuid5(_TEAM_NAMESPACE, f"existing-team:{team.store}"))


def parse_org_file(data: dict[str, Any] | str | Path, *, source: str | None = None) -> OrgFile:
    """Read and validate an org file (path, JSON text already parsed as a dict, or a path string)."""
    if isinstance(data, (str, Path)):
        path = Path(data)
        source = source or str(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise OrgFileError(source, ["file not found"]) from None
        except json.JSONDecodeError as exc:
            raise OrgFileError(source, [f"not JSON: {exc}"]) from None
    source = source or "org"
    if not isinstance(data, dict):
        raise OrgFileError(source, ["the org must be a JSON object"])
    try:
        org = OrgFile.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise OrgFileError(source, problems) from None
    problems = _reference_problems(org)
    if problems:
        raise OrgFileError(source, problems)
    return org


def _duplicates(values: list[str]) -> set[str]:
    seen: set[str] = set()
    return {v for v in values if v in seen or seen.add(v)}  # type: ignore[func-returns-value]


def _reference_problems(org: OrgFile) -> list[str]:
    problems: list[str] = []
    regions = {r.id for r in org.regions}
    stores = {s.number for s in org.stores}
    workers = {w.personnel_number for w in org.workers}
    for name, values in (
        ("regions", [r.id for r in org.regions]),
        ("stores", [s.number for s in org.stores]),
        ("workers", [w.personnel_number for w in org.workers]),
        ("task_lists", [t.id for t in org.task_lists]),
    ):
        for dup in sorted(_duplicates(values)):
            problems.append(f"{name}: duplicate id {dup!r}")
    for i, r in enumerate(org.regions):
        if r.parent is not None and r.parent not in regions:
            problems.append(f"regions.{i}.parent: {r.parent!r} is not a region id")
        for m in r.managers:
            if m not in workers:
                problems.append(f"regions.{i}.managers: {m!r} is not a worker's personnel_number")
    for i, s in enumerate(org.stores):
        if s.region is not None and s.region not in regions:
            problems.append(f"stores.{i}.region: {s.region!r} is not a region id")
    for i, a in enumerate(org.assignments):
        if a.personnel_number not in workers:
            problems.append(f"assignments.{i}.personnel_number: {a.personnel_number!r} is not a worker")
        if a.store not in stores:
            problems.append(f"assignments.{i}.store: {a.store!r} is not a store number")
    for i, team in enumerate(org.existing_teams):
        if team.store not in stores:
            problems.append(f"existing_teams.{i}.store: {team.store!r} is not a store number")
    for i, t in enumerate(org.task_lists):
        for dup in sorted(_duplicates([task.id for task in t.tasks])):
            problems.append(f"task_lists.{i}.tasks: duplicate task id {dup!r}")
        for number in t.stores:
            if number not in stores:
                problems.append(f"task_lists.{i}.stores: {number!r} is not a store number")
        if t.stores and t.target_date is None:
            problems.append(f"task_lists.{i}.target_date: needed when 'stores' is given")
    for m in org.communications_managers:
        if m not in workers:
            problems.append(f"communications_managers: {m!r} is not a worker's personnel_number")
    return problems


def placement(org: OrgFile, region: str | None) -> tuple[str | None, str | None]:
    """(region, district) of a store placed under `region` (which may be a district)."""
    parents = {r.id: r.parent for r in org.regions}
    if region is not None and parents.get(region):
        return parents[region], region
    return region, None


def to_domain(org: OrgFile) -> LoadedOrg:
    stores = []
    for s in org.stores:
        region, district = placement(org, s.region)
        stores.append(
            Store(
                number=s.number,
                name=s.name,
                operating_unit_number=s.operating_unit_number,
                legal_entity=s.legal_entity or org.legal_entity,
                status=StoreStatus(s.status),
                region=region,
                district=district,
                time_zone=s.time_zone,
            )
        )
    workers = [
        Worker(
            personnel_number=w.personnel_number,
            name=w.name,
            upn=w.upn,
            entra_object_id=w.entra_object_id,
            status=EmploymentStatus(w.status),
            termination_date=w.termination_date,
        )
        for w in org.workers
    ]
    assignments = [
        StoreAssignment(
            personnel_number=a.personnel_number, store=a.store, role=StoreRole(a.role), active=True, job=a.job
        )
        for a in org.assignments
    ]
    regions = [
        Region(id=r.id, name=r.name, parent=r.parent, managers=tuple(sorted(set(r.managers))))
        for r in org.regions
    ]
    comms = sorted({m for r in org.regions for m in r.managers} | set(org.communications_managers))
    mappings = [TeamMapping(source_id=t.store, team_id=existing_team_id(t)) for t in org.existing_teams]
    task_lists = [
        TaskList(
            id=t.id,
            name=t.name,
            description=t.description,
            tasks=tuple(
                TaskDefinition(
                    task_list=t.id,
                    id=k.id,
                    name=k.name,
                    notes=k.notes,
                    due_offset_days=k.due_offset_days,
                    contact_person=k.contact_person,
                    link=k.link,
                )
                for k in t.tasks
            ),
        )
        for t in org.task_lists
    ]
    commerce = CommerceOrg(
        legal_entity=org.legal_entity,
        stores=tuple(stores),
        workers=tuple(workers),
        assignments=tuple(assignments),
        regions=tuple(regions),
        communications_managers=tuple(comms),
        mappings=tuple(mappings),
    )
    return LoadedOrg(commerce, list(org.directory), list(org.existing_teams), task_lists)


def load_org(source: dict[str, Any] | str | Path) -> LoadedOrg:
    """An org file → (CommerceOrg, directory users, existing teams, task lists), validated.
    Raises `OrgFileError` listing every problem (schema and cross-references)."""
    return to_domain(parse_org_file(source))

"""F&O OData rows ↔ domain models. Pure: no I/O, field names from `FieldNames`.

The Commerce sandbox writes its rows with the same mapper, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any

from shared.commerce.schema import (
    ETAG,
    HIERARCHY_STORE_TYPE,
    LEGAL_ENTITY_FIELD,
    NO_YES,
    RECURRENCE_PATTERN_FROM_SYMBOL,
    STORE_STATUS,
    TASK_ORIGIN,
    TASK_ORIGIN_FROM_SYMBOL,
    TASK_PRIORITY_FROM_SYMBOL,
    TASK_STATUS,
    TASK_STATUS_FROM_SYMBOL,
    WORKER_STATUS,
    FieldNames,
    format_datetime,
    parse_date,
    parse_datetime,
)
from shared.domain.commerce import (
    EmploymentStatus,
    Region,
    Store,
    StoreAssignment,
    StoreRole,
    StoreStatus,
    TeamMapping,
    TeamSourceType,
    Worker,
)
from shared.domain.ids import commerce_id_problem, is_graph_guid
from shared.domain.tasks import StoreTask, TaskDefinition, TaskList, TaskOrigin, TaskRecurrence, TaskStatus

Row = Mapping[str, Any]


class Unset(Enum):
    """Marks a write argument as 'leave this field alone' (None means 'clear it')."""

    UNSET = "unset"


UNSET = Unset.UNSET
DEFAULT_MANAGER_JOBS = ("Store manager",)
#: The job the sandbox gives to workers who are not managers.
DEFAULT_WORKER_JOB = "Sales associate"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _opt(value: Any) -> str | None:
    text = _text(value).strip()
    return text or None


def legal_entity_of(row: Row) -> str:
    """F&O returns dataAreaId in lower case ('usrt'); the domain uses upper case."""
    return _text(row.get(LEGAL_ENTITY_FIELD)).upper() or "USRT"


class RowMapper:
    def __init__(
        self, fields: FieldNames | None = None, manager_jobs: Sequence[str] = DEFAULT_MANAGER_JOBS
    ) -> None:
        self.f = fields or FieldNames()
        self._manager_jobs = {j.casefold() for j in manager_jobs}

    # --- reads -------------------------------------------------------------------------------

    def store(self, row: Row, placement: Mapping[str, tuple[str | None, str | None]] | None = None) -> Store:
        """`placement` maps an operating unit number to its (region, district) in the hierarchy."""
        f = self.f
        ou = _opt(row.get(f["store.operating_unit_number"]))
        region, district = (placement or {}).get(ou or "", (None, None))
        closed = _text(row.get(f["store.status"])).casefold() == STORE_STATUS["closed"].casefold()
        return Store(
            number=_text(row[f["store.number"]]),
            name=_text(row.get(f["store.name"])),
            operating_unit_number=ou,
            legal_entity=legal_entity_of(row),
            status=StoreStatus.CLOSED if closed else StoreStatus.OPEN,
            region=region,
            district=district,
            time_zone=_text(row.get(f["store.time_zone"])) or "UTC",
        )

    def worker(self, row: Row) -> Worker:
        f = self.f
        terminated = _text(row.get(f["worker.status"])).casefold() == WORKER_STATUS["terminated"].casefold()
        return Worker(
            personnel_number=_text(row[f["worker.personnel_number"]]),
            name=_text(row.get(f["worker.name"])),
            upn=_opt(row.get(f["worker.upn"])),
            entra_object_id=_opt(row.get(f["worker.entra_object_id"])),
            status=EmploymentStatus.TERMINATED if terminated else EmploymentStatus.ACTIVE,
            termination_date=parse_date(row.get(f["worker.termination_date"])),
        )

    def assignment(self, row: Row, store_of_channel: Mapping[str, str]) -> StoreAssignment | None:
        """None when the channel is not a store we know (e.g. an online channel)."""
        f = self.f
        store = store_of_channel.get(_text(row.get(f["assignment.channel_id"])))
        if store is None:
            return None
        job = _opt(row.get(f["assignment.job"]))
        is_manager = job is not None and job.casefold() in self._manager_jobs
        return StoreAssignment(
            personnel_number=_text(row[f["assignment.personnel_number"]]),
            store=store,
            role=StoreRole.MANAGER if is_manager else StoreRole.WORKER,
            active=_text(row.get(f["assignment.active"])) == NO_YES[True],
            job=job,
        )

    def regions(self, nodes: Iterable[Row], managers: Iterable[Row]) -> list[Region]:
        f = self.f
        by_node: dict[str, list[str]] = {}
        for row in managers:
            by_node.setdefault(_text(row[f["hierarchy_manager.node"]]), []).append(
                _text(row[f["hierarchy_manager.personnel_number"]])
            )
        out = []
        for row in nodes:
            if _text(row.get(f["hierarchy.type"])) == HIERARCHY_STORE_TYPE:
                continue
            node = _text(row[f["hierarchy.node"]])
            out.append(
                Region(
                    id=node,
                    name=_text(row.get(f["hierarchy.name"])) or node,
                    parent=_opt(row.get(f["hierarchy.parent"])),
                    managers=tuple(sorted(set(by_node.get(node, [])))),
                )
            )
        return out

    def placement(self, nodes: Iterable[Row]) -> dict[str, tuple[str | None, str | None]]:
        """Operating unit number of each store node → (region, district) by walking up parents."""
        f = self.f
        rows = list(nodes)
        parent = {_text(r[f["hierarchy.node"]]): _opt(r.get(f["hierarchy.parent"])) for r in rows}
        kind = {_text(r[f["hierarchy.node"]]): _text(r.get(f["hierarchy.type"])) for r in rows}
        out: dict[str, tuple[str | None, str | None]] = {}
        for node, k in kind.items():
            if k != HIERARCHY_STORE_TYPE:
                continue
            up = parent.get(node)
            district = up if up and kind.get(up) == "District" else None
            if district:
                up = parent.get(district)
            out[node] = (up, district)
        return out

    def team_mapping(self, row: Row) -> TeamMapping | None:
        """The mapping a row states; None for another source type or a row `mapping_problem` refuses."""
        f = self.f
        try:
            source_type = TeamSourceType(_text(row.get(f["team_mapping.source_type"])))
        except ValueError:
            return None
        if self.mapping_problem(row) is not None:
            return None
        return TeamMapping(
            source_type=source_type,
            source_id=_text(row.get(f["team_mapping.source_id"])).strip(),
            team_id=_text(row.get(f["team_mapping.team_id"])).strip(),
        )

    def mapping_problem(self, row: Row) -> tuple[str, str] | None:
        """(reason code, field) when a mapping row cannot be used: its TeamId goes into Graph URLs
        (`/teams/{id}`), so it must be an Entra object id (a GUID); its SourceId is a Commerce id.
        The reason codes are `RejectReason.INVALID_ID` ('invalid_id')."""
        f = self.f
        source_id = _text(row.get(f["team_mapping.source_id"])).strip()
        if source_id and commerce_id_problem(source_id) is not None:
            return ("invalid_id", f["team_mapping.source_id"])
        if not is_graph_guid(_text(row.get(f["team_mapping.team_id"])).strip()):
            return ("invalid_id", f["team_mapping.team_id"])
        return None

    def task(self, row: Row) -> TaskDefinition:
        f = self.f
        return TaskDefinition(
            task_list=_text(row[f["task.task_list"]]),
            id=_text(row[f["task.id"]]),
            name=_text(row.get(f["task.name"])),
            notes=_text(row.get(f["task.notes"])),
            due_offset_days=int(row.get(f["task.due_offset_days"]) or 0),
            contact_person=_opt(row.get(f["task.contact_person"])),
            link=_opt(row.get(f["task.link"])),
            priority=TASK_PRIORITY_FROM_SYMBOL.get(_text(row.get(f["task.priority"]))),
        )

    def task_list(self, row: Row, tasks: Iterable[TaskDefinition]) -> TaskList:
        f = self.f
        list_id = _text(row[f["task_list.id"]])
        return TaskList(
            id=list_id,
            name=_text(row.get(f["task_list.name"])),
            description=_text(row.get(f["task_list.description"])),
            tasks=tuple(sorted((t for t in tasks if t.task_list == list_id), key=_task_order)),
        )

    def store_task(self, row: Row) -> StoreTask:
        f = self.f
        return StoreTask(
            task_list=_text(row[f["store_task.task_list"]]),
            task=_text(row[f["store_task.task"]]),
            store=_text(row[f["store_task.store"]]),
            legal_entity=legal_entity_of(row),
            name=_text(row.get(f["store_task.name"])),
            notes=_text(row.get(f["store_task.notes"])),
            status=TASK_STATUS_FROM_SYMBOL.get(
                _text(row.get(f["store_task.status"])), TaskStatus.NOT_STARTED
            ),
            target_date=parse_date(row.get(f["store_task.target_date"])),
            due_date=parse_date(row.get(f["store_task.due_date"])),
            assigned_to=_opt(row.get(f["store_task.assigned_to"])),
            completed_by=_opt(row.get(f["store_task.completed_by"])),
            completed_at=parse_datetime(row.get(f["store_task.completed_at"])),
            modified_at=parse_datetime(row.get(f["store_task.modified_at"])),
            etag=_opt(row.get(ETAG)),
            origin=TASK_ORIGIN_FROM_SYMBOL.get(_text(row.get(f["store_task.origin"])), TaskOrigin.COMMERCE),
            created_by=_opt(row.get(f["store_task.created_by"])),
            publication_id=_opt(row.get(f["store_task.publication_id"])),
            publication_name=_opt(row.get(f["store_task.publication_name"])),
            planner_task_id=_opt(row.get(f["store_task.planner_task_id"])),
            recurrence=self._recurrence(row),
        )

    def _recurrence(self, row: Row) -> TaskRecurrence | None:
        """The occurrence's recurring assignment; None when the row names none (or an unknown pattern)."""
        f = self.f
        series = _text(row.get(f["store_task.recurrence_id"])).strip()
        pattern = RECURRENCE_PATTERN_FROM_SYMBOL.get(_text(row.get(f["store_task.recurrence_pattern"])))
        start = parse_date(row.get(f["store_task.recurrence_start"]))
        if not series or pattern is None or start is None:
            return None
        return TaskRecurrence(
            series=series,
            occurrence=max(1, int(row.get(f["store_task.occurrence"]) or 1)),
            pattern=pattern,
            interval=min(99, max(1, int(row.get(f["store_task.recurrence_interval"]) or 1))),
            start=start,
            previous_list=_opt(row.get(f["store_task.previous_task_list"])),
        )

    # --- writes ------------------------------------------------------------------------------

    def store_task_key(self, task: StoreTask) -> dict[str, str]:
        f = self.f
        return {
            LEGAL_ENTITY_FIELD: task.legal_entity.lower(),
            f["store_task.task_list"]: task.task_list,
            f["store_task.task"]: task.task,
            f["store_task.store"]: task.store,
        }

    def store_task_create(self, task: StoreTask) -> dict[str, Any]:
        """The POST body of a single-purpose store task (its key, what it is, who made it and
        where it came from); dates in F&O's form, empty text for None (F&O has no null strings)."""
        f = self.f
        return {
            **self.store_task_key(task),
            f["store_task.name"]: task.name,
            f["store_task.notes"]: task.notes,
            f["store_task.status"]: TASK_STATUS[task.status],
            f["store_task.target_date"]: format_datetime(task.target_date),
            f["store_task.due_date"]: format_datetime(task.due_date),
            f["store_task.assigned_to"]: task.assigned_to or "",
            f["store_task.completed_by"]: task.completed_by or "",
            f["store_task.completed_at"]: format_datetime(task.completed_at),
            f["store_task.origin"]: TASK_ORIGIN[task.origin],
            f["store_task.created_by"]: task.created_by or "",
            f["store_task.publication_id"]: task.publication_id or "",
            f["store_task.publication_name"]: task.publication_name or "",
            f["store_task.planner_task_id"]: task.planner_task_id or "",
        }

    def store_task_patch(
        self,
        *,
        status: TaskStatus | None = None,
        completed_by: str | Unset | None = UNSET,
        completed_at: datetime | date | Unset | None = UNSET,
        assigned_to: str | Unset | None = UNSET,
    ) -> dict[str, Any]:
        """The PATCH body; `UNSET` leaves a field alone, None clears it (F&O's empty value)."""
        f = self.f
        body: dict[str, Any] = {}
        if status is not None:
            body[f["store_task.status"]] = TASK_STATUS[status]
        if not isinstance(completed_by, Unset):
            body[f["store_task.completed_by"]] = completed_by or ""
        if not isinstance(completed_at, Unset):
            body[f["store_task.completed_at"]] = format_datetime(completed_at)
        if not isinstance(assigned_to, Unset):
            body[f["store_task.assigned_to"]] = assigned_to or ""
        return body


def _task_order(task: TaskDefinition) -> tuple[int, str]:
    return (int(task.id), task.id) if task.id.isdigit() else (1 << 30, task.id)

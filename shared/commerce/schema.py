"""The OData names the app relies on: field names per entity, enum symbols, F&O date quirks.

Entity set names live in `CommerceSettings.entity_sets`; field names default to `FIELD_DEFAULTS`
and can be overridden one by one with `CommerceSettings.field_names` ("store.status": "…").
`UNCONFIRMED` lists the names no Microsoft source confirmed (docs/commerce.md): check them against
the environment's `/data/$metadata` before going live. The Commerce sandbox serves exactly these
defaults, so local runs prove the mapping, not the names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from types import MappingProxyType

from shared.domain.tasks import RecurrencePattern, TaskOrigin, TaskPriority, TaskStatus

LEGAL_ENTITY_FIELD = "dataAreaId"  # every company-specific F&O entity carries it
ETAG = "@odata.etag"

FIELD_DEFAULTS: Mapping[str, str] = MappingProxyType(
    {
        # RetailStoreEntity (CDM: StoreNumber, RetailChannelId, OperatingUnitNumber, ChannelTimeZone)
        "store.number": "StoreNumber",
        "store.channel_id": "RetailChannelId",
        "store.operating_unit_number": "OperatingUnitNumber",
        "store.name": "Name",
        "store.time_zone": "ChannelTimeZone",
        "store.status": "StoreStatus",
        # Worker (HcmWorker) with the Commerce identity created on the worker page
        "worker.personnel_number": "PersonnelNumber",
        "worker.name": "Name",
        "worker.upn": "ExternalIdentityAlias",
        "worker.entra_object_id": "ExternalIdentityId",
        "worker.status": "WorkerStatus",
        "worker.termination_date": "EmploymentEndDate",
        # RetailChannelWorkerEntity (CDM: PersonnelNumber, RetailChannelId, IsActive)
        "assignment.personnel_number": "PersonnelNumber",
        "assignment.channel_id": "RetailChannelId",
        "assignment.active": "IsActive",
        "assignment.job": "JobId",
        "assignment.position": "PositionId",
        # Retail reporting hierarchy: one row per node (region, district, store) with its parent
        "hierarchy.node": "OperatingUnitNumber",
        "hierarchy.name": "Name",
        "hierarchy.parent": "ParentOperatingUnitNumber",
        "hierarchy.type": "OperatingUnitType",
        "hierarchy_manager.node": "OperatingUnitNumber",
        "hierarchy_manager.personnel_number": "PersonnelNumber",
        # HQ security roles held by workers (communications managers hold 'Retail task manager')
        "worker_role.personnel_number": "PersonnelNumber",
        "worker_role.role": "SecurityRoleName",
        # "Teams mapping between source and team" (Data management columns SOURCETYPE/SOURCEID/TEAMID)
        "team_mapping.source_type": "SourceType",
        "team_mapping.source_id": "SourceId",
        "team_mapping.team_id": "TeamId",
        # Task management
        "task_list.id": "TaskListId",
        "task_list.name": "Name",
        "task_list.description": "Description",
        "task.task_list": "TaskListId",
        "task.id": "TaskId",
        "task.name": "Name",
        "task.notes": "Notes",
        "task.due_offset_days": "DueDateOffsetDays",
        "task.contact_person": "ContactPersonnelNumber",
        "task.link": "TaskLink",
        "task.priority": "Priority",  # [ours] Urgent / Important / Medium / Low, "" = none
        "store_task.task_list": "TaskListId",
        "store_task.task": "TaskId",
        "store_task.store": "StoreNumber",
        "store_task.name": "Name",
        "store_task.notes": "Notes",
        "store_task.status": "Status",
        "store_task.target_date": "TargetDate",
        "store_task.due_date": "DueDate",
        "store_task.assigned_to": "AssignedToPersonnelNumber",
        "store_task.completed_by": "CompletedByPersonnelNumber",
        "store_task.completed_at": "CompletedDateTime",
        "store_task.modified_at": "ModifiedDateTime",
        # A single-purpose store task made from Teams (docs/tasks.md, "Tasks made in Teams")
        "store_task.origin": "Origin",
        "store_task.created_by": "CreatedByPersonnelNumber",
        "store_task.publication_id": "TeamsPublicationId",
        "store_task.publication_name": "TeamsPublicationName",
        "store_task.planner_task_id": "PlannerTaskId",
        # [ours] the recurring assignment an occurrence came from ("" = not recurring)
        "store_task.recurrence_id": "RecurrenceId",
        "store_task.occurrence": "Occurrence",
        "store_task.recurrence_pattern": "RecurrencePattern",  # Daily / Weekly / Monthly
        "store_task.recurrence_interval": "RecurrenceInterval",
        "store_task.recurrence_start": "RecurrenceStartDate",
        "store_task.previous_task_list": "PreviousTaskListId",
    }
)

#: The data entities the app reads (field-name prefixes), each with the `CommerceEntitySets`
#: setting that names its entity set: the client's `$select` per set and the sandbox's entities.
ENTITY_SETS: Mapping[str, str] = MappingProxyType(
    {
        "store": "stores",
        "worker": "workers",
        "assignment": "assignments",
        "hierarchy": "hierarchy",
        "hierarchy_manager": "hierarchy_managers",
        "worker_role": "worker_roles",
        "team_mapping": "team_mappings",
        "task_list": "task_lists",
        "task": "tasks",
        "store_task": "store_tasks",
    }
)

#: The entities (field-name prefixes) that are company-specific: their rows carry dataAreaId and
#: are keyed by it first; the others (workers, the hierarchy, roles, team mappings) are shared by
#: every legal entity. The Commerce sandbox declares its entities from this set, so a `$select` of
#: dataAreaId on a shared entity is refused there as F&O refuses an unknown property.
COMPANY_SPECIFIC: frozenset[str] = frozenset({"store", "assignment", "task_list", "task", "store_task"})

#: Names confirmed by a Microsoft source (CDM entity reference, MAP doc); everything else is not.
CONFIRMED: frozenset[str] = frozenset(
    {
        "store.number",
        "store.channel_id",
        "store.operating_unit_number",
        "store.time_zone",
        "worker.personnel_number",
        "assignment.personnel_number",
        "assignment.channel_id",
        "assignment.active",
    }
)
UNCONFIRMED: frozenset[str] = frozenset(FIELD_DEFAULTS) - CONFIRMED

# Enum symbols as F&O serialises them (enums travel as symbol strings).
NO_YES = {True: "Yes", False: "No"}
STORE_STATUS = {"open": "Open", "closed": "Closed"}
WORKER_STATUS = {"active": "Employed", "terminated": "Terminated"}
TASK_STATUS: Mapping[TaskStatus, str] = MappingProxyType(
    {
        TaskStatus.NOT_STARTED: "NotStarted",
        TaskStatus.IN_PROGRESS: "InProgress",
        TaskStatus.COMPLETED: "Completed",
        TaskStatus.CANCELED: "Canceled",
    }
)
TASK_STATUS_FROM_SYMBOL: Mapping[str, TaskStatus] = MappingProxyType({v: k for k, v in TASK_STATUS.items()})
# [ours]; an empty Origin is a Commerce task (rows from before the field existed).
TASK_ORIGIN: Mapping[TaskOrigin, str] = MappingProxyType(
    {
        TaskOrigin.COMMERCE: "Commerce",
        TaskOrigin.TEAMS_PUBLISHED: "TeamsPublished",
        TaskOrigin.TEAMS_ADHOC: "TeamsAdHoc",
    }
)
TASK_ORIGIN_FROM_SYMBOL: Mapping[str, TaskOrigin] = MappingProxyType({v: k for k, v in TASK_ORIGIN.items()})
TASK_PRIORITY: Mapping[TaskPriority, str] = MappingProxyType({p: p.value.capitalize() for p in TaskPriority})
TASK_PRIORITY_FROM_SYMBOL: Mapping[str, TaskPriority] = MappingProxyType(
    {v: k for k, v in TASK_PRIORITY.items()}
)
RECURRENCE_PATTERN: Mapping[RecurrencePattern, str] = MappingProxyType(
    {p: p.value.capitalize() for p in RecurrencePattern}
)
RECURRENCE_PATTERN_FROM_SYMBOL: Mapping[str, RecurrencePattern] = MappingProxyType(
    {v: k for k, v in RECURRENCE_PATTERN.items()}
)
HIERARCHY_STORE_TYPE = "RetailChannel"
HIERARCHY_REGION_TYPES = ("Region", "District")
STORE_SOURCE_TYPE = "RetailStore"

# F&O returns an empty date/datetime as 1900-01-01 (its "no date" value), not null.
FO_NULL_DATETIME = "1900-01-01T00:00:00Z"


class FieldNames:
    """Field names for one environment: defaults overridden by `CommerceSettings.field_names`."""

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(FIELD_DEFAULTS))
        if unknown:
            raise ValueError(
                f"unknown Commerce field name keys {unknown}; valid keys are listed in docs/commerce.md"
            )
        self._names = {**FIELD_DEFAULTS, **overrides}

    def __getitem__(self, key: str) -> str:
        return self._names[key]

    def of(self, entity: str) -> dict[str, str]:
        """{'number': 'StoreNumber', ...} for one entity prefix such as 'store'."""
        prefix = entity + "."
        return {k[len(prefix) :]: v for k, v in self._names.items() if k.startswith(prefix)}

    def select(self, entity: str) -> tuple[str, ...]:
        """The `$select` of a read of `entity`: dataAreaId first when it is company-specific,
        then every field the app maps (each once). F&O answers every column of an entity without
        one (RetailStoreEntity has well over a hundred) and supports `$select`
        (https://learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/data-entities/odata,
        "Supported features from the OData specification"); `@odata.etag` comes either way."""
        names = tuple(dict.fromkeys(self.of(entity).values()))
        return ((LEGAL_ENTITY_FIELD,) if entity in COMPANY_SPECIFIC else ()) + names


def parse_date(value: object) -> date | None:
    dt = parse_datetime(value)
    return dt.date() if dt else None


def parse_datetime(value: object) -> datetime | None:
    """F&O's `Edm.DateTimeOffset` (or `Edm.Date`) → aware datetime; its 1900-01-01 'no date' → None."""
    if value is None or value == "":
        return None
    text = str(value)
    if text.startswith("1900-01-01"):
        return None
    if len(text) == 10:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_datetime(value: datetime | date | None) -> str:
    """The inverse: None → 1900-01-01T00:00:00Z, dates → midnight UTC, always with 'Z'."""
    if value is None:
        return FO_NULL_DATETIME
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

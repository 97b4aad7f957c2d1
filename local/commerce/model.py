"""What happens in Commerce headquarters: seeding an org and every change of the scenario
vocabulary (spec/local-and-cli.md), as row writes plus the events F&O would raise for them.

Each change returns `Intent`s: a business event of our catalog (shared/commerce/catalog) and/or a
data event (entity CUD with the row before and after). The publisher decides which get sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from local.commerce.data import Database, Row
from local.scenarios.orgfile import OrgFile, OrgStore, OrgTaskList, OrgWorker, existing_team_id
from shared.commerce.mapping import DEFAULT_WORKER_JOB
from shared.commerce.schema import (
    FIELD_DEFAULTS,
    HIERARCHY_STORE_TYPE,
    LEGAL_ENTITY_FIELD,
    NO_YES,
    RECURRENCE_PATTERN,
    RECURRENCE_PATTERN_FROM_SYMBOL,
    STORE_SOURCE_TYPE,
    STORE_STATUS,
    TASK_ORIGIN_FROM_SYMBOL,
    TASK_PRIORITY,
    TASK_STATUS,
    TASK_STATUS_FROM_SYMBOL,
    WORKER_STATUS,
    format_datetime,
    parse_date,
)
from shared.domain.tasks import RecurrencePattern, TaskPriority, TaskStatus
from shared.tasks.origin import FROM_TEAMS_LIST
from shared.tasks.recurrence import occurrence_date

F = FIELD_DEFAULTS
_NOT_RECURRING: Row = {
    F["store_task.recurrence_id"]: "",
    F["store_task.occurrence"]: 0,
    F["store_task.recurrence_pattern"]: "",
    F["store_task.recurrence_interval"]: 0,
    F["store_task.recurrence_start"]: format_datetime(None),
    F["store_task.previous_task_list"]: "",
}
_NOT_RECURRING_KEYS = {k: k for k in _NOT_RECURRING}
MANAGER_JOB = "Store manager"
COMMUNICATIONS_ROLE = "Retail task manager"


class SandboxError(Exception):
    """A side-channel or OData request the sandbox refuses: HTTP `status` and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Intent:
    """One event F&O would raise. `business`: (BusinessEventId, legal entity, own fields);
    `data`: (entity kind, 'Create'|'Update'|'Delete', row before, row after)."""

    business: tuple[str, str, dict[str, Any]] | None = None
    data: tuple[str, str, Row | None, Row | None] | None = None


def _be(event_id: str, legal_entity: str, **fields: Any) -> Intent:
    return Intent(business=(event_id, legal_entity.upper(), fields))


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class CommerceModel:
    db: Database
    legal_entity: str = "USRT"
    _pending: list[Intent] = field(default_factory=list)

    # --- rows from the org file ----------------------------------------------------------------

    @staticmethod
    def channel_id(number: str) -> str:
        # Deliberately not the store number: RetailChannelId and StoreNumber are different fields,
        # and clients must translate (docs/commerce.md).
        return f"RC{number}"

    def store_row(self, s: OrgStore) -> Row:
        return {
            LEGAL_ENTITY_FIELD: (s.legal_entity or self.legal_entity).lower(),
            F["store.number"]: s.number,
            F["store.channel_id"]: s.channel_id or self.channel_id(s.number),
            F["store.operating_unit_number"]: s.operating_unit_number or f"OU{s.number}",
            F["store.name"]: s.name,
            F["store.time_zone"]: s.time_zone,
            F["store.status"]: STORE_STATUS[s.status],
        }

    @staticmethod
    def worker_row(w: OrgWorker) -> Row:
        return {
            F["worker.personnel_number"]: w.personnel_number,
            F["worker.name"]: w.name,
            F["worker.upn"]: w.upn or "",
            F["worker.entra_object_id"]: w.entra_object_id or "",
            F["worker.status"]: WORKER_STATUS[w.status],
            F["worker.termination_date"]: format_datetime(w.termination_date),
        }

    def assignment_row(self, store: Row, personnel_number: str, role: str, job: str | None = None) -> Row:
        channel = store[F["store.channel_id"]]
        return {
            LEGAL_ENTITY_FIELD: store[LEGAL_ENTITY_FIELD],
            F["assignment.personnel_number"]: personnel_number,
            F["assignment.channel_id"]: channel,
            F["assignment.active"]: NO_YES[True],
            F["assignment.job"]: job or (MANAGER_JOB if role == "manager" else DEFAULT_WORKER_JOB),
            F["assignment.position"]: f"{channel}-{personnel_number}",
        }

    @staticmethod
    def node_row(node: str, name: str, parent: str | None, kind: str) -> Row:
        return {
            F["hierarchy.node"]: node,
            F["hierarchy.name"]: name,
            F["hierarchy.parent"]: parent or "",
            F["hierarchy.type"]: kind,
        }

    def seed(self, org: OrgFile) -> None:
        """Replace everything with the org file's content. Seeding raises no events."""
        self.db.clear()
        self.legal_entity = org.legal_entity
        self.db.set_meta("legal_entity", org.legal_entity)
        db = self.db
        db.put_many(
            "hierarchy",
            [
                self.node_row(r.id, r.name, r.parent, "District" if r.parent else "Region")
                for r in org.regions
            ],
        )
        db.put_many(
            "hierarchy_manager",
            [
                {F["hierarchy_manager.node"]: r.id, F["hierarchy_manager.personnel_number"]: m}
                for r in org.regions
                for m in r.managers
            ],
        )
        comms = sorted({m for r in org.regions for m in r.managers} | set(org.communications_managers))
        db.put_many(
            "worker_role",
            [
                {F["worker_role.personnel_number"]: m, F["worker_role.role"]: COMMUNICATIONS_ROLE}
                for m in comms
            ],
        )
        stores = {s.number: self.store_row(s) for s in org.stores}
        db.put_many("store", stores.values())
        db.put_many(
            "hierarchy",
            [
                self.node_row(row[F["store.operating_unit_number"]], s.name, s.region, HIERARCHY_STORE_TYPE)
                for s, row in ((s, stores[s.number]) for s in org.stores)
            ],
        )
        db.put_many("worker", [self.worker_row(w) for w in org.workers])
        terminated = {w.personnel_number for w in org.workers if w.status == "terminated"}
        rows = []
        for a in org.assignments:
            row = self.assignment_row(stores[a.store], a.personnel_number, a.role, a.job)
            if a.personnel_number in terminated:
                row[F["assignment.active"]] = NO_YES[False]
            rows.append(row)
        db.put_many("assignment", rows)
        db.put_many(
            "team_mapping",
            [
                {
                    F["team_mapping.source_type"]: STORE_SOURCE_TYPE,
                    F["team_mapping.source_id"]: t.store,
                    F["team_mapping.team_id"]: existing_team_id(t),
                }
                for t in org.existing_teams
            ],
        )
        for t in org.task_lists:
            self._put_task_list(t)
            if t.stores and t.target_date:
                for number in t.stores:
                    for row in self._store_task_rows(t.id, stores[number], t.target_date):
                        db.put("store_task", row, commit=False)
        db.commit()

    def _put_task_list(self, t: OrgTaskList) -> None:
        le = self.legal_entity.lower()
        self.db.put(
            "task_list",
            {
                LEGAL_ENTITY_FIELD: le,
                F["task_list.id"]: t.id,
                F["task_list.name"]: t.name,
                F["task_list.description"]: t.description,
            },
            commit=False,
        )
        for k in t.tasks:
            self.db.put(
                "task",
                {
                    LEGAL_ENTITY_FIELD: le,
                    F["task.task_list"]: t.id,
                    F["task.id"]: k.id,
                    F["task.name"]: k.name,
                    F["task.notes"]: k.notes,
                    F["task.due_offset_days"]: k.due_offset_days,
                    F["task.contact_person"]: k.contact_person or "",
                    F["task.link"]: k.link or "",
                    F["task.priority"]: TASK_PRIORITY[TaskPriority(k.priority)] if k.priority else "",
                },
                commit=False,
            )

    def _store_task_rows(
        self, task_list: str, store: Row, target: date, recurrence: Row | None = None
    ) -> list[Row]:
        rows = []
        for d in self.db.find("task", **{F["task.task_list"]: task_list}):
            due = target + timedelta(days=int(d[F["task.due_offset_days"]] or 0))
            rows.append(
                {
                    LEGAL_ENTITY_FIELD: store[LEGAL_ENTITY_FIELD],
                    F["store_task.task_list"]: task_list,
                    F["store_task.task"]: d[F["task.id"]],
                    F["store_task.store"]: store[F["store.number"]],
                    F["store_task.name"]: d[F["task.name"]],
                    F["store_task.notes"]: d[F["task.notes"]],
                    F["store_task.status"]: TASK_STATUS[TaskStatus.NOT_STARTED],
                    F["store_task.target_date"]: format_datetime(target),
                    F["store_task.due_date"]: format_datetime(due),
                    F["store_task.assigned_to"]: "",
                    F["store_task.completed_by"]: "",
                    F["store_task.completed_at"]: format_datetime(None),
                    F["store_task.modified_at"]: format_datetime(_now()),
                    **(recurrence or _NOT_RECURRING),
                }
            )
        return rows

    # --- lookups -------------------------------------------------------------------------------

    def store(self, number: str) -> Row:
        found = self.db.find("store", **{F["store.number"]: number})
        if not found:
            raise SandboxError(404, f"store {number!r} does not exist")
        return found[0]

    def worker(self, personnel_number: str) -> Row:
        found = self.db.get("worker", (personnel_number,))
        if found is None:
            raise SandboxError(404, f"worker {personnel_number!r} does not exist")
        return found

    def assignment(self, personnel_number: str, store: Row) -> Row | None:
        return self.db.get(
            "assignment", (store[LEGAL_ENTITY_FIELD], personnel_number, store[F["store.channel_id"]])
        )

    def store_tasks(self, task_list: str, task: str | None = None, store: str | None = None) -> list[Row]:
        match = {F["store_task.task_list"]: task_list}
        if task:
            match[F["store_task.task"]] = task
        if store:
            match[F["store_task.store"]] = store
        return self.db.find("store_task", **match)

    # --- writes with their events ----------------------------------------------------------------

    def _write(self, kind: str, row: Row, *, message: str | None = None) -> Row:
        before, after = self.db.put(kind, row)
        self._pending.append(
            Intent(data=(kind, message or ("Update" if before else "Create"), before, after))
        )
        return after

    def _remove(self, kind: str, row: Row) -> None:
        before = self.db.delete(kind, self.db.specs[kind].key_of(row))
        if before is not None:
            self._pending.append(Intent(data=(kind, "Delete", before, None)))

    def _update(self, kind: str, row: Row, **changes: Any) -> Row:
        return self._write(kind, {**row, **changes})

    def take_intents(self) -> list[Intent]:
        out, self._pending = self._pending, []
        return out

    def apply(self, step: dict[str, Any]) -> list[Intent]:
        """One `{"commerce": verb, ...}` step; returns the events it raised."""
        verb = step.get("commerce")
        handler = getattr(self, f"do_{verb}", None) if isinstance(verb, str) else None
        if handler is None:
            raise SandboxError(400, f"unknown commerce change {verb!r}; see docs/commerce.md for the list")
        args = {k: v for k, v in step.items() if k != "commerce"}
        try:
            handler(**args)
        except TypeError as exc:
            self._pending.clear()
            raise SandboxError(400, f"{verb}: {exc}") from None
        return self.take_intents()

    def _store_event(self, row: Row, kind: str) -> None:
        self._pending.append(
            _be(
                "CTS_StoreChangedBusinessEvent",
                row[LEGAL_ENTITY_FIELD],
                StoreNumber=row[F["store.number"]],
                ChangeKind=kind,
            )
        )

    def do_open_store(self, store: dict[str, Any]) -> None:
        s = OrgStore.model_validate(store)
        if self.db.find("store", **{F["store.number"]: s.number}):
            raise SandboxError(409, f"store {s.number!r} already exists")
        if s.region and not self.db.get("hierarchy", (s.region,)):
            raise SandboxError(400, f"region {s.region!r} does not exist")
        row = self._write("store", self.store_row(s))
        self._write(
            "hierarchy",
            self.node_row(row[F["store.operating_unit_number"]], s.name, s.region, HIERARCHY_STORE_TYPE),
        )
        self._store_event(row, "Created")

    def _set_store_status(self, store: str, status: str, kind: str) -> None:
        row = self._update("store", self.store(store), **{F["store.status"]: STORE_STATUS[status]})
        self._store_event(row, kind)

    def do_close_store(self, store: str) -> None:
        self._set_store_status(store, "closed", "Closed")

    def do_reopen_store(self, store: str) -> None:
        self._set_store_status(store, "open", "Opened")

    def do_rename_store(self, store: str, name: str) -> None:
        row = self._update("store", self.store(store), **{F["store.name"]: name})
        node = self.db.get("hierarchy", (row[F["store.operating_unit_number"]],))
        if node:
            self._update("hierarchy", node, **{F["hierarchy.name"]: name})
        self._store_event(row, "Changed")

    def do_move_store(self, store: str, region: str) -> None:
        """The store's node moves under another region or district of the retail reporting
        hierarchy (its operating unit's parent changes)."""
        if not self.db.get("hierarchy", (region,)):
            raise SandboxError(400, f"region {region!r} does not exist")
        row = self.store(store)
        node = self.db.get("hierarchy", (row[F["store.operating_unit_number"]],))
        if node is None:
            raise SandboxError(400, f"store {store!r} has no node in the hierarchy")
        self._update("hierarchy", node, **{F["hierarchy.parent"]: region})
        self._store_event(row, "Changed")

    def _worker_event(self, personnel_number: str, kind: str) -> None:
        self._pending.append(
            _be("CTS_WorkerChangedBusinessEvent", "", PersonnelNumber=personnel_number, ChangeKind=kind)
        )

    def _assignment_event(self, store: Row, personnel_number: str, kind: str) -> None:
        self._pending.append(
            _be(
                "CTS_StoreAssignmentChangedBusinessEvent",
                store[LEGAL_ENTITY_FIELD],
                PersonnelNumber=personnel_number,
                StoreNumber=store[F["store.number"]],
                ChangeKind=kind,
            )
        )

    def do_hire_worker(self, worker: dict[str, Any], store: str, role: str = "worker") -> None:
        w = OrgWorker.model_validate(worker)
        target = self.store(store)
        self._write("worker", self.worker_row(w))
        self._worker_event(w.personnel_number, "Hired")
        self._write("assignment", self.assignment_row(target, w.personnel_number, role))
        self._assignment_event(target, w.personnel_number, "Added")

    def do_assign_worker(self, personnel_number: str, store: str, role: str = "worker") -> None:
        self.worker(personnel_number)
        target = self.store(store)
        self._write("assignment", self.assignment_row(target, personnel_number, role))
        self._assignment_event(target, personnel_number, "Added")

    def do_transfer_worker(self, personnel_number: str, to_store: str, from_store: str | None = None) -> None:
        self.worker(personnel_number)
        rows = self.db.find("assignment", **{F["assignment.personnel_number"]: personnel_number})
        if from_store is None:
            if len(rows) != 1:
                raise SandboxError(
                    400, f"worker {personnel_number} works at {len(rows)} stores: give from_store"
                )
            channel = rows[0][F["assignment.channel_id"]]
            from_row = next(s for s in self.db.rows("store") if s[F["store.channel_id"]] == channel)
        else:
            from_row = self.store(from_store)
        old = self.assignment(personnel_number, from_row)
        if old is None:
            raise SandboxError(
                400, f"worker {personnel_number} does not work at store {from_row[F['store.number']]}"
            )
        target = self.store(to_store)
        self._remove("assignment", old)
        job = old[F["assignment.job"]]
        self._write("assignment", self.assignment_row(target, personnel_number, "worker", job))
        self._worker_event(personnel_number, "Transferred")
        self._assignment_event(from_row, personnel_number, "Removed")
        self._assignment_event(target, personnel_number, "Added")

    def do_change_role(self, personnel_number: str, store: str, role: str) -> None:
        if role not in ("manager", "worker"):
            raise SandboxError(400, f"role must be 'manager' or 'worker', not {role!r}")
        target = self.store(store)
        row = self.assignment(personnel_number, target)
        if row is None:
            raise SandboxError(400, f"worker {personnel_number} does not work at store {store}")
        self._update(
            "assignment",
            row,
            **{F["assignment.job"]: MANAGER_JOB if role == "manager" else DEFAULT_WORKER_JOB},
        )
        self._assignment_event(target, personnel_number, "Changed")
        self._worker_event(personnel_number, "RoleChanged")

    def do_change_job(self, personnel_number: str, store: str, job: str) -> None:
        """The worker's job (position) at the store changes, e.g. to "Shift lead"; a manager job
        makes them a store manager, as `change_role` does."""
        if not job.strip():
            raise SandboxError(400, "job must not be empty")
        target = self.store(store)
        row = self.assignment(personnel_number, target)
        if row is None:
            raise SandboxError(400, f"worker {personnel_number} does not work at store {store}")
        self._update("assignment", row, **{F["assignment.job"]: job})
        self._assignment_event(target, personnel_number, "Changed")
        self._worker_event(personnel_number, "RoleChanged")

    def do_terminate_worker(self, personnel_number: str, termination_date: str | None = None) -> None:
        row = self.worker(personnel_number)
        when = date.fromisoformat(termination_date) if termination_date else _now().date()
        self._update(
            "worker",
            row,
            **{
                F["worker.status"]: WORKER_STATUS["terminated"],
                F["worker.termination_date"]: format_datetime(when),
            },
        )
        for a in self.db.find("assignment", **{F["assignment.personnel_number"]: personnel_number}):
            self._update("assignment", a, **{F["assignment.active"]: NO_YES[False]})
        self._worker_event(personnel_number, "Terminated")

    def do_change_region_managers(self, region: str, managers: list[str]) -> None:
        if not self.db.get("hierarchy", (region,)):
            raise SandboxError(404, f"region {region!r} does not exist")
        for m in managers:
            self.worker(m)
        for row in self.db.find("hierarchy_manager", **{F["hierarchy_manager.node"]: region}):
            if row[F["hierarchy_manager.personnel_number"]] not in managers:
                self._remove("hierarchy_manager", row)
        for m in managers:
            if not self.db.get("hierarchy_manager", (region, m)):
                self._write(
                    "hierarchy_manager",
                    {F["hierarchy_manager.node"]: region, F["hierarchy_manager.personnel_number"]: m},
                )
            if not self.db.get("worker_role", (m, COMMUNICATIONS_ROLE)):
                self._write(
                    "worker_role",
                    {F["worker_role.personnel_number"]: m, F["worker_role.role"]: COMMUNICATIONS_ROLE},
                )
        self._pending.append(
            _be("CTS_RegionChangedBusinessEvent", "", RegionId=region, ChangeKind="ManagersChanged")
        )

    def do_publish_task_list(
        self,
        task_list: str,
        stores: list[str],
        target_date: str | None = None,
        recurrence: dict[str, Any] | None = None,
    ) -> None:
        """ "Start process": the list's tasks at each store. With `recurrence` ({"pattern": "daily" |
        "weekly" | "monthly", "interval": n}) it is a recurring assignment [ours: HQ's form has an
        optional Recurrence, its entity is not public]: this is occurrence 1, `recur_task_list`
        starts the next one (what HQ's recurrence batch job does)."""
        if not self.db.get("task_list", (self.legal_entity, task_list)):
            raise SandboxError(404, f"task list {task_list!r} does not exist")
        target = date.fromisoformat(target_date) if target_date else _now().date()
        fields = None
        if recurrence is not None:
            fields = self._recurrence_fields(task_list, recurrence, target)
        self._publish(task_list, stores, target, fields)

    def _publish(self, task_list: str, stores: list[str], target: date, recurrence: Row | None) -> None:
        by_le: dict[str, list[str]] = {}
        for number in stores:
            store = self.store(number)
            for row in self._store_task_rows(task_list, store, target, recurrence):
                self._write("store_task", row, message="Create")
            by_le.setdefault(store[LEGAL_ENTITY_FIELD], []).append(number)
        for le, numbers in by_le.items():
            self._pending.append(
                _be("CTS_TaskListPublishedBusinessEvent", le, TaskListId=task_list, StoreNumbers=numbers)
            )

    @staticmethod
    def _recurrence_fields(series: str, recurrence: dict[str, Any], start: date) -> Row:
        pattern = str(recurrence.get("pattern", ""))
        if pattern not in {p.value for p in RecurrencePattern}:
            raise SandboxError(
                400, f"recurrence pattern must be one of {[p.value for p in RecurrencePattern]}"
            )
        interval = recurrence.get("interval", 1)
        if not isinstance(interval, int) or not 1 <= interval <= 99:
            raise SandboxError(400, "recurrence interval must be an integer from 1 to 99")
        return {
            F["store_task.recurrence_id"]: series,
            F["store_task.occurrence"]: 1,
            F["store_task.recurrence_pattern"]: RECURRENCE_PATTERN[RecurrencePattern(pattern)],
            F["store_task.recurrence_interval"]: interval,
            F["store_task.recurrence_start"]: format_datetime(start),
            F["store_task.previous_task_list"]: "",
        }

    def do_recur_task_list(self, task_list: str) -> None:
        """HQ's recurrence batch: the next occurrence of the recurring assignment of `task_list`, a new
        task list instance `<list>-<n>` (a copy of the list, the next target date) at the same stores."""
        rows = self.db.find("store_task", **{F["store_task.recurrence_id"]: task_list})
        if not rows:
            raise SandboxError(404, f"task list {task_list!r} has no recurring assignment")
        last = max(int(r[F["store_task.occurrence"]]) for r in rows)
        current = [r for r in rows if int(r[F["store_task.occurrence"]]) == last]
        first = current[0]
        n = last + 1
        start = parse_date(first[F["store_task.recurrence_start"]]) or _now().date()
        pattern = RECURRENCE_PATTERN_FROM_SYMBOL[first[F["store_task.recurrence_pattern"]]]
        target = occurrence_date(start, pattern, int(first[F["store_task.recurrence_interval"]]), n)
        instance = f"{task_list}-{n}"
        listed = self.db.get("task_list", (self.legal_entity, task_list))
        assert listed is not None
        self.db.put("task_list", {**listed, F["task_list.id"]: instance}, commit=False)
        for d in self.db.find("task", **{F["task.task_list"]: task_list}):
            self.db.put("task", {**d, F["task.task_list"]: instance}, commit=False)
        fields = {k: first[v] for k, v in _NOT_RECURRING_KEYS.items()}
        fields[F["store_task.occurrence"]] = n
        fields[F["store_task.previous_task_list"]] = first[F["store_task.task_list"]]
        stores = sorted({str(r[F["store_task.store"]]) for r in current})
        self._publish(instance, stores, target, fields)

    def _task_event(self, row: Row, kind: str) -> None:
        self._pending.append(
            _be(
                "CTS_TaskChangedBusinessEvent",
                row[LEGAL_ENTITY_FIELD],
                TaskListId=row[F["store_task.task_list"]],
                TaskId=row[F["store_task.task"]],
                StoreNumber=row[F["store_task.store"]],
                ChangeKind=kind,
            )
        )

    def do_update_task(self, task_list: str, task: str, fields: dict[str, Any]) -> None:
        definition = self.db.get("task", (self.legal_entity, task_list, task))
        if definition is None:
            raise SandboxError(404, f"task {task_list}/{task} does not exist")
        allowed = {"name": "task.name", "notes": "task.notes", "due_offset_days": "task.due_offset_days"}
        unknown = sorted(set(fields) - set(allowed))
        if unknown:
            raise SandboxError(400, f"update_task: unknown fields {unknown}; use {sorted(allowed)}")
        self.db.put("task", {**definition, **{F[allowed[k]]: v for k, v in fields.items()}})
        copies = self.store_tasks(task_list, task)
        for row in copies:
            changes: dict[str, Any] = {F["store_task.modified_at"]: format_datetime(_now())}
            if "name" in fields:
                changes[F["store_task.name"]] = fields["name"]
            if "notes" in fields:
                changes[F["store_task.notes"]] = fields["notes"]
            if "due_offset_days" in fields:
                target = parse_date(row[F["store_task.target_date"]]) or _now().date()
                changes[F["store_task.due_date"]] = format_datetime(
                    target + timedelta(days=int(fields["due_offset_days"]))
                )
            self._task_event(self._update("store_task", row, **changes), "Changed")
        if not copies:
            self._pending.append(
                _be(
                    "CTS_TaskListChangedBusinessEvent",
                    self.legal_entity,
                    TaskListId=task_list,
                    ChangeKind="Changed",
                )
            )

    def do_cancel_task(self, task_list: str, task: str, store: str | None = None) -> None:
        copies = self.store_tasks(task_list, task, store)
        if not copies:
            raise SandboxError(
                404, f"task {task_list}/{task} is not published" + (f" to store {store}" if store else "")
            )
        for row in copies:
            updated = self._update(
                "store_task",
                row,
                **{
                    F["store_task.status"]: TASK_STATUS[TaskStatus.CANCELED],
                    F["store_task.modified_at"]: format_datetime(_now()),
                },
            )
            self._task_event(updated, "Canceled")

    def do_set_task_status(
        self, task_list: str, task: str, store: str, status: str, by: str | None = None
    ) -> None:
        try:
            new = TaskStatus(status)
        except ValueError:
            raise SandboxError(400, f"status must be one of {[s.value for s in TaskStatus]}") from None
        copies = self.store_tasks(task_list, task, store)
        if not copies:
            raise SandboxError(404, f"task {task_list}/{task} is not published to store {store}")
        done = new is TaskStatus.COMPLETED
        updated = self._update(
            "store_task",
            copies[0],
            **{
                F["store_task.status"]: TASK_STATUS[new],
                F["store_task.completed_by"]: (by or "") if done else "",
                F["store_task.completed_at"]: format_datetime(_now() if done else None),
                F["store_task.modified_at"]: format_datetime(_now()),
            },
        )
        self._task_event(updated, "StatusChanged")

    def create_store_task(self, row: Row) -> Row:
        """An OData POST of a store task by a client: a single-purpose task (POS managers create
        them, task-mgmt-configure; reference/commerce-teams-domain.md 2.1) or a new task in an
        existing list. The entity is our own model [ours, docs/commerce.md]; checked as strictly as
        F&O's validateWrite would: known store, existing list (or the single-purpose list), valid
        enum symbols, an existing creator. Raises the task's business event ("Created")."""
        list_id = str(row[F["store_task.task_list"]])
        if list_id != FROM_TEAMS_LIST and not self.db.get("task_list", (row[LEGAL_ENTITY_FIELD], list_id)):
            raise SandboxError(
                400, f"The value '{list_id}' in field TaskListId is not found in CTSTaskLists."
            )
        if not self.db.get("store", (row[LEGAL_ENTITY_FIELD], str(row[F["store_task.store"]]))):
            raise SandboxError(
                400,
                f"The value '{row[F['store_task.store']]}' in field StoreNumber is not found in "
                "RetailStores.",
            )
        for name, symbols in (
            (F["store_task.status"], TASK_STATUS_FROM_SYMBOL),
            (F["store_task.origin"], TASK_ORIGIN_FROM_SYMBOL),
        ):
            if row.get(name) and row[name] not in symbols:
                raise SandboxError(400, f"'{row[name]}' is not a valid value of {name}.")
        if not row.get(F["store_task.status"]):
            row[F["store_task.status"]] = TASK_STATUS[TaskStatus.NOT_STARTED]
        for name in (F["store_task.created_by"], F["store_task.assigned_to"], F["store_task.completed_by"]):
            if row.get(name) and not self.db.get("worker", (str(row[name]),)):
                raise SandboxError(400, f"The value '{row[name]}' in field {name} is not found in Workers.")
        for name in (F["store_task.target_date"], F["store_task.due_date"], F["store_task.completed_at"]):
            row[name] = row.get(name) or format_datetime(None)
        row[F["store_task.modified_at"]] = format_datetime(_now())
        created = self._write("store_task", row, message="Create")
        self._task_event(created, "Created")
        return created

    def patch_store_task(self, row: Row, body: dict[str, Any]) -> Row:
        """An OData PATCH by a client (the app writing status back). F&O raises the task's event for
        it too: the app sees its own write come back and must recognise the echo."""
        status_field = F["store_task.status"]
        if status_field in body and body[status_field] not in TASK_STATUS_FROM_SYMBOL:
            raise SandboxError(400, f"'{body[status_field]}' is not a valid value of {status_field}.")
        changed = {k: v for k, v in body.items() if row.get(k) != v}
        updated = self._update(
            "store_task", row, **body, **{F["store_task.modified_at"]: format_datetime(_now())}
        )
        kind = "Reassigned" if set(changed) == {F["store_task.assigned_to"]} else "StatusChanged"
        self._task_event(updated, kind)
        return updated

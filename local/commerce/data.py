"""The sandbox's data: the entity sets it serves and their rows, persisted in SQLite.

Rows live in memory (dicts shaped exactly as OData returns them) and every change is written
through to SQLite, so a restarted sandbox serves the same data. Each write bumps the row's
version; the ETag is derived from it, like F&O's (an opaque base64 string in `W/"…"`).
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from shared.commerce.schema import COMPANY_SPECIFIC, ENTITY_SETS, ETAG, FIELD_DEFAULTS, LEGAL_ENTITY_FIELD
from shared.settings import CommerceEntitySets

Row = dict[str, Any]
Key = tuple[str, ...]


@dataclass(frozen=True)
class EntitySpec:
    kind: str  # field-name prefix in FIELD_DEFAULTS, e.g. 'store'
    set_name: str  # OData entity set, e.g. 'RetailStores'
    entity: str  # data entity name, e.g. 'RetailStoreEntity' (data events use it)
    keys: tuple[str, ...]  # physical key fields, dataAreaId first when company-specific
    writable: frozenset[str] = frozenset()
    creatable: bool = False  # accepts OData POST (insert)

    @property
    def company(self) -> bool:
        """Carries dataAreaId: the app's own list (shared.commerce.schema.COMPANY_SPECIFIC)."""
        return self.kind in COMPANY_SPECIFIC

    @cached_property  # (the dataclass is frozen, not slotted: cached in the instance's __dict__)
    def fields(self) -> tuple[str, ...]:
        names = [v for k, v in FIELD_DEFAULTS.items() if k.split(".")[0] == self.kind]
        return ((LEGAL_ENTITY_FIELD,) if self.company else ()) + tuple(dict.fromkeys(names))

    def key_of(self, row: Row) -> Key:
        return tuple(str(row[k]).casefold() for k in self.keys)


def _f(key: str) -> str:
    return FIELD_DEFAULTS[key]


def entity_specs(sets: CommerceEntitySets | None = None) -> dict[str, EntitySpec]:
    s = sets or CommerceEntitySets()

    def named(kind: str) -> str:  # the entity set's name, from the app's settings
        return str(getattr(s, ENTITY_SETS[kind]))

    le = (LEGAL_ENTITY_FIELD,)
    specs = [
        EntitySpec("store", named("store"), "RetailStoreEntity", (*le, _f("store.number"))),
        EntitySpec("worker", named("worker"), "HcmWorkerEntity", (_f("worker.personnel_number"),)),
        EntitySpec(
            "assignment",
            named("assignment"),
            "RetailChannelWorkerEntity",
            (*le, _f("assignment.personnel_number"), _f("assignment.channel_id")),
        ),
        EntitySpec(
            "hierarchy", named("hierarchy"), "RetailReportingHierarchyNodeEntity", (_f("hierarchy.node"),)
        ),
        EntitySpec(
            "hierarchy_manager",
            named("hierarchy_manager"),
            "RetailHierarchyManagerEntity",
            (_f("hierarchy_manager.node"), _f("hierarchy_manager.personnel_number")),
        ),
        EntitySpec(
            "worker_role",
            named("worker_role"),
            "RetailWorkerSecurityRoleEntity",
            (_f("worker_role.personnel_number"), _f("worker_role.role")),
        ),
        EntitySpec(
            "team_mapping",
            named("team_mapping"),
            "RetailTeamsSourceTeamMappingEntity",
            (_f("team_mapping.source_type"), _f("team_mapping.source_id")),
            frozenset({_f("team_mapping.team_id")}),
            creatable=True,
        ),
        EntitySpec("task_list", named("task_list"), "CTSTaskListEntity", (*le, _f("task_list.id"))),
        EntitySpec(
            "task", named("task"), "CTSTaskDefinitionEntity", (*le, _f("task.task_list"), _f("task.id"))
        ),
        EntitySpec(
            "store_task",
            named("store_task"),
            "CTSTaskEntity",
            (*le, _f("store_task.task_list"), _f("store_task.task"), _f("store_task.store")),
            frozenset(
                {
                    _f("store_task.status"),
                    _f("store_task.assigned_to"),
                    _f("store_task.completed_by"),
                    _f("store_task.completed_at"),
                }
            ),
            creatable=True,  # single-purpose tasks (Commerce's create: shared/commerce/client.py)
        ),
    ]
    return {spec.kind: spec for spec in specs}


def make_etag(version: int) -> str:
    return 'W/"' + base64.b64encode(f"'1,{version}'".encode()).decode() + '"'


class Database:
    """Rows per entity kind, write-through to SQLite. Thread-safe (one lock)."""

    def __init__(self, path: str | Path, specs: dict[str, EntitySpec] | None = None) -> None:
        self.specs = specs or entity_specs()
        self.by_set = {s.set_name.casefold(): s for s in self.specs.values()}
        self._lock = threading.RLock()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        # WAL with synchronous=NORMAL, as the Graph sandbox and the local broker: a commit still
        # reaches the OS before the answer (a killed sandbox keeps it), without the rollback
        # journal's fsyncs per write, which held the one lock -- every read with it -- for the
        # disk: ~90 % of the sandbox's samples in a 1,000-store first provisioning's write-backs.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS rows (kind TEXT, key TEXT, data TEXT, PRIMARY KEY (kind, key));"
            "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);"
        )
        self._rows: dict[str, dict[Key, Row]] = {k: {} for k in self.specs}
        self._sorted: dict[str, list[Row] | None] = {k: None for k in self.specs}
        # (kind, field) -> casefolded string value -> rows in key order; dropped with `_sorted`.
        self._index: dict[tuple[str, str], dict[str, list[Row]]] = {}
        for kind, key, data in self._db.execute("SELECT kind, key, data FROM rows"):
            if kind in self._rows:
                self._rows[kind][tuple(json.loads(key))] = json.loads(data)
        self._version = int(self.meta("version", "0"))

    # --- meta ----------------------------------------------------------------------------------

    def meta(self, name: str, default: str = "") -> str:
        found = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return str(found[0]) if found else default

    def set_meta(self, name: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))
            self._db.commit()

    def empty(self) -> bool:
        return not any(self._rows.values())

    # --- rows ----------------------------------------------------------------------------------

    def rows(self, kind: str) -> list[Row]:
        """All rows of a kind, ordered by key (F&O pages in primary-key order)."""
        with self._lock:
            cached = self._sorted[kind]
            if cached is None:
                cached = [self._rows[kind][k] for k in sorted(self._rows[kind])]
                self._sorted[kind] = cached
            return cached

    def _drop_index(self, kind: str) -> None:
        for k in [k for k in self._index if k[0] == kind]:
            del self._index[k]

    def rows_where(self, kind: str, field: str, values: set[str]) -> list[Row]:
        """Rows whose string `field` casefolds to one of `values`, in key order (an index built on
        first use: what a database index on the entity's field gives F&O)."""
        with self._lock:
            index = self._index.get((kind, field))
            if index is None:
                index = {}
                for row in self.rows(kind):
                    v = row.get(field)
                    if isinstance(v, str):
                        index.setdefault(v.casefold(), []).append(row)
                self._index[(kind, field)] = index
            if len(values) == 1:
                return list(index.get(next(iter(values)), ()))
            found = [r for v in values for r in index.get(v, ())]
        spec = self.specs[kind]
        return sorted(found, key=spec.key_of)

    def get(self, kind: str, key: Key) -> Row | None:
        return self._rows[kind].get(tuple(k.casefold() for k in key))

    def find(self, kind: str, **match: str) -> list[Row]:
        """Rows whose fields equal `match` (case-insensitive, like F&O)."""
        wanted = {k: v.casefold() for k, v in match.items()}
        return [
            r for r in self.rows(kind) if all(str(r.get(k, "")).casefold() == v for k, v in wanted.items())
        ]

    def put(self, kind: str, row: Row, *, commit: bool = True) -> tuple[Row | None, Row]:
        """Insert or replace; returns (previous row, stored row with its new ETag)."""
        spec = self.specs[kind]
        with self._lock:
            self._version += 1
            stored = {ETAG: make_etag(self._version), **{k: v for k, v in row.items() if k != ETAG}}
            key = spec.key_of(stored)
            previous = self._rows[kind].get(key)
            self._rows[kind][key] = stored
            self._sorted[kind] = None
            self._drop_index(kind)
            self._db.execute(
                "INSERT OR REPLACE INTO rows VALUES (?, ?, ?)", (kind, json.dumps(key), json.dumps(stored))
            )
            if commit:
                self._commit()
            return previous, stored

    def delete(self, kind: str, key: Key, *, commit: bool = True) -> Row | None:
        with self._lock:
            key = tuple(k.casefold() for k in key)
            previous = self._rows[kind].pop(key, None)
            if previous is not None:
                self._sorted[kind] = None
                self._drop_index(kind)
                self._db.execute("DELETE FROM rows WHERE kind = ? AND key = ?", (kind, json.dumps(key)))
                if commit:
                    self._commit()
            return previous

    def put_many(self, kind: str, rows: Iterable[Row]) -> None:
        with self._lock:
            for row in rows:
                self.put(kind, row, commit=False)
            self._commit()

    def commit(self) -> None:
        with self._lock:
            self._commit()

    def _commit(self) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (str(self._version),))
        self._db.commit()

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM rows")
            self._db.commit()
            self._rows = {k: {} for k in self.specs}
            self._sorted = {k: None for k in self.specs}
            self._index.clear()

    def close(self) -> None:
        with self._lock:
            self._db.close()

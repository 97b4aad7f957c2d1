"""SQLite persistence for the sandbox tenant: one connection, WAL, JSON documents.

Every Graph object is a row ``(kind, id, parent, deleted, data)``; ``data`` is the JSON the
sandbox answers with (private bookkeeping fields start with ``_`` and are stripped on output).
Lookups that must stay fast on a big tenant (users by employeeId/mail/UPN, groups by name,
children of a parent) are served by expression indexes. ``changes`` is the ordered log that
``/groups/delta`` reads, ``task_changes`` the one the beta Planner task delta reads. A restarted
sandbox reopens the same file and keeps its tenant.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

INDEXED_FIELDS = ("employeeId", "mail", "userPrincipalName", "displayName", "mailNickname")
INDEXED_KINDS = ("user", "group", "team")
"""The kinds whose `INDEXED_FIELDS` are looked up (users by employeeId/mail/UPN, groups and teams
by name): partial indexes, so the rows of every other kind -- a team's members (20,000 at 1,000
stores), channels, plans, tasks, operations -- are written without evaluating five JSON
expressions each (until 2026-12-07 one index per field over every kind: ~40 % of a member row's
write). A query uses a partial index only when its SQL names the kind as a literal
(https://www.sqlite.org/partialindex.html, "Queries Using Partial Indexes"): `_kind` does."""
_KIND = re.compile(r"^[A-Za-z]+$")


def _kind(kind: str) -> str:
    """`kind=?` as SQL with the kind inlined (an internal name, checked), for the partial indexes."""
    if not _KIND.match(kind):
        raise ValueError(f"not a kind: {kind!r}")
    return f"kind='{kind}'"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    parent TEXT,
    deleted INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS ix_objects_parent ON objects(kind, parent);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id TEXT NOT NULL,
    member_id TEXT,
    change TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_changes_group ON changes(group_id, seq);
CREATE TABLE IF NOT EXISTS task_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    plan_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_task_changes_plan ON task_changes(plan_id, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Store:
    """Thread-safe, synchronous document store; every call is short (indexed)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        # Writes per kind (put, set_deleted, remove, remove_children; a rolled-back one counts
        # too): a cache of one kind's rows is fresh while its count has not moved (the notifier's
        # subscriptions, read once per change until 2026-12-07).
        self.writes: Counter[str] = Counter()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        for field in INDEXED_FIELDS:
            self._db.execute(f"DROP INDEX IF EXISTS ix_objects_{field}")  # a file from before partial ones
            for kind in INDEXED_KINDS:
                self._db.execute(
                    f"CREATE INDEX IF NOT EXISTS ix_{kind}_{field} "
                    f"ON objects(kind, lower(json_extract(data, '$.{field}'))) WHERE {_kind(kind)}"
                )
        self.tenant_id = self.meta("tenantId") or self._init_meta("tenantId", str(uuid.uuid4()))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- meta ---------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def _init_meta(self, key: str, value: str) -> str:
        self.set_meta(key, value)
        return value

    # -- transactions ---------------------------------------------------------------------------
    @contextmanager
    def tx(self) -> Iterator[None]:
        """Group several writes into one commit (and one fsync)."""
        with self._lock:
            if self._db.in_transaction:
                yield
                return
            self._db.execute("BEGIN")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- objects --------------------------------------------------------------------------------
    def get(self, kind: str, ident: str, *, deleted: bool | None = False) -> dict[str, Any] | None:
        sql = "SELECT data FROM objects WHERE kind=? AND id=?"
        args: list[Any] = [kind, ident]  # the primary key: no partial index needed
        if deleted is not None:
            sql += " AND deleted=?"
            args.append(int(deleted))
        row = self._db.execute(sql, args).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, kind: str, data: dict[str, Any], parent: str | None = None, deleted: bool = False) -> None:
        with self._lock:
            self.writes[kind] += 1
            self._db.execute(
                "INSERT INTO objects(kind, id, parent, deleted, data) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(kind, id) DO UPDATE SET parent=excluded.parent, deleted=excluded.deleted, "
                "data=excluded.data",
                (kind, data["id"], parent, int(deleted), json.dumps(data, separators=(",", ":"))),
            )

    def set_deleted(self, kind: str, ident: str, deleted: bool) -> None:
        with self._lock:
            self.writes[kind] += 1
            self._db.execute(
                "UPDATE objects SET deleted=? WHERE kind=? AND id=?", (int(deleted), kind, ident)
            )

    def remove(self, kind: str, ident: str) -> None:
        with self._lock:
            self.writes[kind] += 1
            self._db.execute("DELETE FROM objects WHERE kind=? AND id=?", (kind, ident))

    def remove_children(self, kind: str, parent: str) -> None:
        with self._lock:
            self.writes[kind] += 1
            self._db.execute("DELETE FROM objects WHERE kind=? AND parent=?", (kind, parent))

    def query(
        self,
        kind: str,
        *,
        parent: str | None = None,
        where: str = "",
        args: Sequence[Any] = (),
        deleted: bool = False,
        after: int = 0,
        limit: int | None = None,
    ) -> list[tuple[int, dict[str, Any]]]:
        """Rows of one kind in insertion order, as ``(rowid, data)``; ``after`` is a rowid cursor."""
        sql = f"SELECT rowid, data FROM objects WHERE {_kind(kind)} AND deleted=? AND rowid>?"
        params: list[Any] = [int(deleted), after]
        if parent is not None:
            sql += " AND parent=?"
            params.append(parent)
        if where:
            sql += f" AND ({where})"
            params.extend(args)
        sql += " ORDER BY rowid"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [(r[0], json.loads(r[1])) for r in self._db.execute(sql, params)]

    def count(
        self, kind: str, *, parent: str | None = None, where: str = "", args: Sequence[Any] = ()
    ) -> int:
        sql = f"SELECT count(*) FROM objects WHERE {_kind(kind)} AND deleted=0"
        params: list[Any] = []
        if parent is not None:
            sql += " AND parent=?"
            params.append(parent)
        if where:
            sql += f" AND ({where})"
            params.extend(args)
        return int(self._db.execute(sql, params).fetchone()[0])

    def find_one(self, kind: str, field: str, value: str) -> dict[str, Any] | None:
        """Case-insensitive lookup on an indexed field (as Graph's ``eq`` on strings)."""
        assert field in INDEXED_FIELDS
        row = self._db.execute(
            f"SELECT data FROM objects WHERE {_kind(kind)} AND deleted=0 "
            f"AND lower(json_extract(data, '$.{field}'))=lower(?) LIMIT 1",
            (value,),
        ).fetchone()
        return json.loads(row[0]) if row else None

    # -- change log (for /groups/delta) -------------------------------------------------------
    def log_change(self, group_id: str, change: str, member_id: str | None, ts: float) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO changes(group_id, member_id, change, ts) VALUES (?, ?, ?, ?)",
                (group_id, member_id, change, ts),
            )

    def last_change(self) -> int:
        return int(self._db.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0])

    def changes_since(self, seq: int) -> list[tuple[int, str, str | None, str]]:
        return list(
            self._db.execute(
                "SELECT seq, group_id, member_id, change FROM changes WHERE seq>? ORDER BY seq", (seq,)
            )
        )

    # -- task change log (for the beta Planner task delta) ------------------------------------
    def log_task_change(self, plan_id: str, task_id: str, ts: float) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO task_changes(plan_id, task_id, ts) VALUES (?, ?, ?)", (plan_id, task_id, ts)
            )

    def last_task_change(self) -> int:
        return int(self._db.execute("SELECT coalesce(max(seq), 0) FROM task_changes").fetchone()[0])

    def tasks_changed(self, plan_id: str, after: int, upto: int) -> list[str]:
        """Ids of the plan's tasks changed in (after, upto], each once, in order of last change."""
        rows = self._db.execute(
            "SELECT task_id, max(seq) AS last FROM task_changes WHERE plan_id=? AND seq>? AND seq<=? "
            "GROUP BY task_id ORDER BY last",
            (plan_id, after, upto),
        )
        return [r[0] for r in rows]

    def dump(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kind, ident, parent, deleted, data in self._db.execute(
            "SELECT kind, id, parent, deleted, data FROM objects ORDER BY kind, rowid"
        ):
            out.setdefault(kind, []).append(
                {"id": ident, "parent": parent, "deleted": bool(deleted), "data": json.loads(data)}
            )
        return out

"""SQLite persistence of the task hub: instances, history, inbox (events and timers), work.

- ``instances``: one row per instance id (status, input/output/custom status as JSON text,
  current execution id, parent link for sub-orchestrations).
- ``history``: the current execution's history events, in order.
- ``inbox``: messages for orchestrations (ExecutionStarted, completions, EventRaised,
  TimerFired, ExecutionTerminated) with the time they become visible (timers fire later).
- ``work``: activity executions scheduled and not yet completed.

Every state change is one transaction, so a kill at any point leaves either the whole step
or none of it: an episode appends its history, consumes its inbox messages, and writes its new
work, timers and messages to other instances together; an activity's completion deletes its work
row and posts the completion message together (no work row → the completion is dropped, so it
is never doubled).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    parent_instance_id TEXT,
    parent_execution_id TEXT,
    parent_task_id INTEGER
);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
);
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    kind INTEGER NOT NULL,
    timer_id INTEGER,
    event TEXT NOT NULL,
    visible_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_by_instance ON inbox (instance_id, id);
CREATE INDEX IF NOT EXISTS inbox_by_time ON inbox (visible_at);
CREATE TABLE IF NOT EXISTS work (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    input TEXT
);
CREATE INDEX IF NOT EXISTS work_by_instance ON work (instance_id);
"""

TERMINAL = ("Completed", "Failed", "Terminated", "Canceled")


@dataclass(frozen=True)
class Instance:
    instance_id: str
    name: str
    execution_id: str
    status: str
    input: str | None
    output: str | None
    custom_status: str | None
    created_at: str
    updated_at: str
    parent_instance_id: str | None
    parent_execution_id: str | None
    parent_task_id: int | None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class Message:
    id: int
    instance_id: str
    execution_id: str | None  # None: for whichever execution is current (external events)
    event: dict[str, Any]


@dataclass(frozen=True)
class Work:
    id: int
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None


@dataclass
class Outgoing:
    """A message to post: to an instance's inbox, visible at ``visible_at`` (epoch seconds)."""

    instance_id: str
    execution_id: str | None
    event: dict[str, Any]
    visible_at: float = 0.0


class Store:
    """The task hub's tables; one connection, used from one thread at a time (a lock guards it)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- reads ------------------------------------------------------------------------------

    def instance(self, instance_id: str) -> Instance | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
        return Instance(**dict(row)) if row else None

    def instances(
        self,
        *,
        statuses: Iterable[str] | None = None,
        created_from: str | None = None,
        created_to: str | None = None,
        prefix: str | None = None,
        limit: int | None = None,
    ) -> list[Instance]:
        sql, args = "SELECT * FROM instances WHERE 1=1", list[Any]()
        status_list = list(statuses or [])
        if status_list:
            sql += f" AND status IN ({','.join('?' * len(status_list))})"
            args += status_list
        if created_from:
            sql += " AND created_at >= ?"
            args.append(created_from)
        if created_to:
            sql += " AND created_at <= ?"
            args.append(created_to)
        if prefix:
            sql += " AND substr(instance_id, 1, ?) = ?"
            args += [len(prefix), prefix]
        with self._lock:
            order = " ORDER BY created_at, instance_id" + (" LIMIT ?" if limit is not None else "")
            rows = self._db.execute(sql + order, [*args, *([limit] if limit is not None else [])]).fetchall()
        return [Instance(**dict(r)) for r in rows]

    def history(self, instance_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def visible_messages(self, instance_id: str, now: float) -> list[Message]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, instance_id, execution_id, event FROM inbox "
                "WHERE instance_id = ? AND visible_at <= ? ORDER BY id",
                (instance_id, now),
            ).fetchall()
        return [Message(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def due_instances(self, now: float) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT instance_id FROM inbox WHERE visible_at <= ?", (now,)
            ).fetchall()
        return [r[0] for r in rows]

    def next_due(self, now: float) -> float | None:
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(visible_at) FROM inbox WHERE visible_at > ?", (now,)
            ).fetchone()
        return row[0] if row and row[0] is not None else None

    def all_work(self) -> list[Work]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM work ORDER BY id").fetchall()
        return [Work(**dict(r)) for r in rows]

    # -- writes (inside a transaction) --------------------------------------------------------

    @staticmethod
    def post(db: sqlite3.Connection, messages: Iterable[Outgoing]) -> None:
        for m in messages:
            db.execute(
                "INSERT INTO inbox (instance_id, execution_id, kind, timer_id, event, visible_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    m.instance_id,
                    m.execution_id,
                    m.event["EventType"],
                    m.event.get("TimerId"),
                    json.dumps(m.event),
                    m.visible_at or time.time(),
                ),
            )

    @staticmethod
    def append_history(db: sqlite3.Connection, instance_id: str, events: Iterable[dict[str, Any]]) -> None:
        row = db.execute(
            "SELECT COALESCE(MAX(seq), -1) FROM history WHERE instance_id = ?", (instance_id,)
        ).fetchone()
        seq = int(row[0])
        for ev in events:
            seq += 1
            db.execute(
                "INSERT INTO history (instance_id, seq, event) VALUES (?, ?, ?)",
                (instance_id, seq, json.dumps({k: v for k, v in ev.items() if k != "IsPlayed"})),
            )

    @staticmethod
    def add_work(
        db: sqlite3.Connection,
        instance_id: str,
        execution_id: str,
        task_id: int,
        name: str,
        input_text: str | None,
    ) -> int:
        cur = db.execute(
            "INSERT INTO work (instance_id, execution_id, task_id, name, input) VALUES (?, ?, ?, ?, ?)",
            (instance_id, execution_id, task_id, name, input_text),
        )
        return int(cur.lastrowid or 0)

    @staticmethod
    def consume(db: sqlite3.Connection, message_ids: Iterable[int]) -> None:
        db.executemany("DELETE FROM inbox WHERE id = ?", [(i,) for i in message_ids])

    @staticmethod
    def clear_pending(db: sqlite3.Connection, instance_id: str, *, keep_unbound: bool = False) -> None:
        """Drop an instance's queued work and messages (all, or all but external events)."""
        db.execute("DELETE FROM work WHERE instance_id = ?", (instance_id,))
        if keep_unbound:
            db.execute("DELETE FROM inbox WHERE instance_id = ? AND execution_id IS NOT NULL", (instance_id,))
        else:
            db.execute("DELETE FROM inbox WHERE instance_id = ?", (instance_id,))

    @staticmethod
    def delete_instance(db: sqlite3.Connection, instance_id: str) -> None:
        for table in ("instances", "history", "inbox", "work"):
            db.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))

    @staticmethod
    def put_instance(db: sqlite3.Connection, inst: Instance) -> None:
        db.execute(
            "INSERT OR REPLACE INTO instances VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                inst.instance_id,
                inst.name,
                inst.execution_id,
                inst.status,
                inst.input,
                inst.output,
                inst.custom_status,
                inst.created_at,
                inst.updated_at,
                inst.parent_instance_id,
                inst.parent_execution_id,
                inst.parent_task_id,
            ),
        )

    @staticmethod
    def update_instance(db: sqlite3.Connection, instance_id: str, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        db.execute(f"UPDATE instances SET {sets} WHERE instance_id = ?", (*fields.values(), instance_id))

    @staticmethod
    def cancel_timers(
        db: sqlite3.Connection, instance_id: str, execution_id: str, timer_ids: Iterable[int]
    ) -> None:
        db.executemany(
            "DELETE FROM inbox WHERE instance_id = ? AND execution_id = ? AND timer_id = ?",
            [(instance_id, execution_id, t) for t in timer_ids],
        )

    @staticmethod
    def finish_work(db: sqlite3.Connection, work_id: int) -> bool:
        """Delete a work row; False when it is gone (instance finished, purged or restarted)."""
        return db.execute("DELETE FROM work WHERE id = ?", (work_id,)).rowcount > 0

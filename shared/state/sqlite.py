"""SQLite backend: the embedded default (one file, WAL), used locally and in small installs.

Queries are sub-millisecond, so they run inline under a lock rather than in a thread pool.
Checkpoints are not: SQLite's automatic one runs inside the commit that fills the WAL (its fsyncs
took ~150 ms on a busy disk, with the event loop stopped), so it is off on this connection and a
passive checkpoint runs on a thread of its own, with a connection of its own, every
`CHECKPOINT_EVERY` writes (a truncating one once the WAL is past `WAL_LIMIT`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from shared.state.backend import WRITE_LIMIT, Entity, StateConflict, Write, stored_key

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    tbl TEXT NOT NULL, partition TEXT NOT NULL, row TEXT NOT NULL,
    data TEXT NOT NULL, etag TEXT NOT NULL,
    PRIMARY KEY (tbl, partition, row)
) WITHOUT ROWID;
"""
_UPSERT = (
    "INSERT INTO entities (tbl, partition, row, data, etag) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (tbl, partition, row) DO UPDATE SET data=excluded.data, etag=excluded.etag"
)


def _etag() -> str:
    """A new row version: 128 random bits in hex, the form uuid4().hex had (every write makes
    one; building the UUID object cost four times the random bytes)."""
    return os.urandom(16).hex()


CHECKPOINT_EVERY = 200
# Rows per `IN (...)` of get_many: below SQLite's 999 bound variables before 3.32
# (https://www.sqlite.org/limits.html, SQLITE_MAX_VARIABLE_NUMBER).
_IN_LIMIT = 500
WAL_LIMIT = 16 * 1024 * 1024


class SqliteBackend:
    def __init__(self, path: str | Path) -> None:
        self._path = None if str(path) == ":memory:" else str(path)
        if self._path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._writes = 0
        self._checkpointing = threading.Lock()  # held while a checkpoint thread runs
        if self._path is not None:
            self._db.execute("PRAGMA wal_autocheckpoint=0")

    def _wrote(self) -> None:
        self._writes += 1
        if self._path is None or self._writes % CHECKPOINT_EVERY:
            return
        if self._checkpointing.acquire(blocking=False):
            threading.Thread(target=self._checkpoint, name="state-checkpoint", daemon=True).start()

    def _checkpoint(self) -> None:
        assert self._path is not None
        try:
            wal = Path(self._path + "-wal")
            mode = "TRUNCATE" if wal.exists() and wal.stat().st_size > WAL_LIMIT else "PASSIVE"
            db = sqlite3.connect(self._path, timeout=5.0)
            try:
                db.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()
            finally:
                db.close()
        except sqlite3.Error:
            pass  # the next one tries again; the WAL only grows meanwhile
        finally:
            self._checkpointing.release()

    async def get(self, table: str, partition: str, row: str) -> Entity | None:
        stored_key(partition), stored_key(row)  # as strict as Table Storage
        with self._lock:
            found = self._db.execute(
                "SELECT data, etag FROM entities WHERE tbl=? AND partition=? AND row=?",
                (table, partition, row),
            ).fetchone()
        return None if found is None else Entity(partition, row, json.loads(found[0]), found[1])

    async def get_many(self, table: str, partition: str, rows: Sequence[str]) -> dict[str, Entity]:
        wanted = list(dict.fromkeys(rows))
        for key in (partition, *wanted):
            stored_key(key)  # as strict as Table Storage
        found: dict[str, Entity] = {}
        with self._lock:
            for start in range(0, len(wanted), _IN_LIMIT):
                part = wanted[start : start + _IN_LIMIT]
                marks = ",".join("?" * len(part))
                for row, data, etag in self._db.execute(
                    f"SELECT row, data, etag FROM entities WHERE tbl=? AND partition=? AND row IN ({marks})",
                    (table, partition, *part),
                ):
                    found[row] = Entity(partition, row, json.loads(data), etag)
        return found

    async def insert(self, table: str, partition: str, row: str, data: dict[str, Any]) -> Entity:
        stored_key(partition), stored_key(row)  # as strict as Table Storage
        etag = _etag()
        try:
            with self._lock:
                self._db.execute(
                    "INSERT INTO entities (tbl, partition, row, data, etag) VALUES (?, ?, ?, ?, ?)",
                    (table, partition, row, json.dumps(data), etag),
                )
        except sqlite3.IntegrityError:
            raise StateConflict(f"{table}/{partition}/{row} already exists") from None
        self._wrote()
        return Entity(partition, row, data, etag)

    async def upsert(
        self, table: str, partition: str, row: str, data: dict[str, Any], *, if_match: str | None = None
    ) -> Entity:
        stored_key(partition), stored_key(row)  # as strict as Table Storage
        etag = _etag()
        with self._lock:
            if if_match is None:
                self._db.execute(_UPSERT, (table, partition, row, json.dumps(data), etag))
            else:
                changed = self._db.execute(
                    "UPDATE entities SET data=?, etag=? WHERE tbl=? AND partition=? AND row=? AND etag=?",
                    (json.dumps(data), etag, table, partition, row, if_match),
                ).rowcount
                if changed == 0:
                    raise StateConflict(f"{table}/{partition}/{row} changed since it was read")
        self._wrote()
        return Entity(partition, row, data, etag)

    async def delete(self, table: str, partition: str, row: str) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM entities WHERE tbl=? AND partition=? AND row=?", (table, partition, row)
            )
        self._wrote()

    async def write(self, table: str, partition: str, writes: Sequence[Write]) -> None:
        if len(writes) > WRITE_LIMIT:  # the same limit as Azure Tables, so both behave alike
            raise ValueError(f"{len(writes)} writes in one batch (at most {WRITE_LIMIT})")
        for key in (partition, *(w.row for w in writes)):
            stored_key(key)  # as strict as Table Storage
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for w in writes:
                    if w.data is None:
                        self._db.execute(
                            "DELETE FROM entities WHERE tbl=? AND partition=? AND row=?",
                            (table, partition, w.row),
                        )
                    else:
                        self._db.execute(_UPSERT, (table, partition, w.row, json.dumps(w.data), _etag()))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        self._wrote()

    async def query(
        self, table: str, partition: str | None = None, *, start: str | None = None, stop: str | None = None
    ) -> AsyncIterator[Entity]:
        where, args = "tbl=?", [table]
        if partition is not None:
            where, args = where + " AND partition=?", [*args, partition]
        if start is not None:
            where, args = where + " AND row>=?", [*args, start]
        if stop is not None:
            where, args = where + " AND row<?", [*args, stop]
        order = "row" if partition is not None else "partition, row"
        with self._lock:
            rows = self._db.execute(
                f"SELECT partition, row, data, etag FROM entities WHERE {where} ORDER BY {order}", args
            ).fetchall()
        for p, r, data, etag in rows:
            yield Entity(p, r, json.loads(data), etag)

    async def close(self) -> None:
        with self._checkpointing:  # a running checkpoint finishes first
            with self._lock:
                self._db.close()

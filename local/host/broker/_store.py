"""The broker's SQLite storage: every state change is one transaction, run on one thread.

Tables:
- `senders`     topics and queues (what `send` addresses): duplicate detection, default TTL.
- `receivers`   queues and subscriptions (what `receive` addresses): lock duration, max delivery
                count, dead-lettering on expiry, correlation rules (subscriptions only).
- `messages`    one row per accepted message: body and properties, sequence number (rowid).
- `copies`      one row per message per receiver (a topic fans out): delivery state, lock,
                dead-letter sub-queue flag and reason. `visible_at` is the time from which the
                copy may be received: the scheduled time, or the end of its lock.
- `seen_ids`    message ids seen by a sender, for duplicate detection.

WAL with `synchronous=NORMAL`: a commit reaches the OS before `send` returns, so a SIGKILL of the
process loses nothing it accepted (a power cut may lose the last commits; `durable=True` selects
`synchronous=FULL`).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS senders (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,                       -- 'topic' | 'queue'
    duplicate_window REAL NOT NULL,           -- seconds; 0 = no duplicate detection
    default_ttl REAL                          -- seconds; NULL = forever
);
CREATE TABLE IF NOT EXISTS receivers (
    path TEXT PRIMARY KEY,                    -- 'queue' or 'topic/Subscriptions/sub'
    sender TEXT NOT NULL,
    lock_duration REAL NOT NULL,
    max_delivery_count INTEGER NOT NULL,
    dead_letter_on_expiration INTEGER NOT NULL,
    rules TEXT                                -- JSON list of {property: value|null}; NULL = accept all
);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sender TEXT NOT NULL,
    message_id TEXT NOT NULL,
    enqueued_at REAL NOT NULL,
    expires_at REAL,
    props TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS copies (
    id INTEGER PRIMARY KEY,
    receiver TEXT NOT NULL,
    seq INTEGER NOT NULL,
    dead INTEGER NOT NULL DEFAULT 0,
    visible_at REAL NOT NULL,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    lock_token TEXT,
    last_error TEXT,
    dl_reason TEXT,
    dl_description TEXT,
    dl_source TEXT
);
CREATE INDEX IF NOT EXISTS copies_queue ON copies (receiver, dead, id);
CREATE INDEX IF NOT EXISTS copies_lock ON copies (lock_token) WHERE lock_token IS NOT NULL;
CREATE INDEX IF NOT EXISTS copies_seq ON copies (seq);
CREATE TABLE IF NOT EXISTS seen_ids (
    sender TEXT NOT NULL,
    message_id TEXT NOT NULL,
    seen_at REAL NOT NULL,
    PRIMARY KEY (sender, message_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_ids_age ON seen_ids (sender, seen_at);
"""

MAX_DELIVERY_REASON = "MaxDeliveryCountExceeded"


def max_delivery_text(delivery_count: int) -> str:
    """The DeadLetterErrorDescription Service Bus writes for MaxDeliveryCountExceeded. Azure keeps
    neither the handler's exception nor the abandon's text (the Functions host abandons without
    properties), so neither does the broker (docs/bus.md)."""
    return f"Message could not be consumed after {delivery_count} delivery attempts."


TTL_REASON = "TTLExpiredException"
TTL_DESCRIPTION = "The message expired and was dead lettered."


class EntityNotFound(LookupError):
    """Sending to or receiving from an entity nobody declared (`ensure_topic` / `ensure_queue`)."""


class MessageLockLost(RuntimeError):
    """The lock expired (or the message was settled) before this settlement: the message is, or
    will be, delivered again. Service Bus raises `MessageLockLostError` in the same case."""


@dataclass(frozen=True)
class ReceiverConfig:
    path: str
    sender: str
    lock_duration: float
    max_delivery_count: int
    dead_letter_on_expiration: bool
    rules: tuple[dict[str, Any], ...] | None

    def accepts(self, app_props: dict[str, Any]) -> bool:
        """Service Bus semantics: no rule = TrueFilter; otherwise any rule matching is enough.
        A rule matches when every property it names has that value (None: the property is absent)."""
        if self.rules is None:
            return True
        return any(all(app_props.get(k) == v for k, v in rule.items()) for rule in self.rules)


@dataclass(frozen=True)
class SenderConfig:
    name: str
    kind: str
    duplicate_window: float
    default_ttl: float | None


Row = tuple[Any, ...]
_COLUMNS = (
    "c.id, c.receiver, c.seq, c.dead, c.visible_at, c.delivery_count, c.lock_token, c.dl_reason, "
    "c.dl_description, c.dl_source, m.message_id, m.enqueued_at, m.expires_at, m.props, m.body"
)


class Store:
    """Synchronous; the async `Broker` calls it from a single worker thread."""

    def __init__(self, path: str, *, durable: bool = False) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self.db.executescript(SCHEMA)
        self.senders: dict[str, SenderConfig] = {}
        self.receivers: dict[str, ReceiverConfig] = {}
        self.subscriptions: dict[str, list[ReceiverConfig]] = {}
        self._next_cleanup: dict[str, float] = {}
        self.reload()

    def close(self) -> None:
        self.db.close()

    def reload(self) -> None:
        """(Re)read entity declarations: another process may have declared some."""
        self.senders = {r[0]: SenderConfig(*r) for r in self.db.execute("SELECT * FROM senders")}
        self.receivers = {}
        self.subscriptions = {}
        for path, sender, lock, mdc, dlx, rules in self.db.execute("SELECT * FROM receivers"):
            cfg = ReceiverConfig(
                path, sender, lock, mdc, bool(dlx), None if rules is None else tuple(json.loads(rules))
            )
            self.receivers[path] = cfg
            self.subscriptions.setdefault(sender, []).append(cfg)

    def _sender(self, name: str) -> SenderConfig:
        if name not in self.senders:
            self.reload()
        try:
            return self.senders[name]
        except KeyError:
            raise EntityNotFound(
                f"no topic or queue named {name!r}: declare it with ensure_topic/ensure_queue"
            ) from None

    def receiver(self, path: str) -> ReceiverConfig:
        if path not in self.receivers:
            self.reload()
        try:
            return self.receivers[path]
        except KeyError:
            raise EntityNotFound(
                f"no queue or subscription {path!r}: declare it with ensure_topic/ensure_queue"
            ) from None

    # -- declarations -----------------------------------------------------------------------

    def declare(self, sender: SenderConfig, receivers: Iterable[ReceiverConfig]) -> None:
        with self._tx():
            self.db.execute(
                "INSERT OR REPLACE INTO senders VALUES (?, ?, ?, ?)",
                (sender.name, sender.kind, sender.duplicate_window, sender.default_ttl),
            )
            for r in receivers:
                self.db.execute(
                    "INSERT OR REPLACE INTO receivers VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        r.path,
                        r.sender,
                        r.lock_duration,
                        r.max_delivery_count,
                        int(r.dead_letter_on_expiration),
                        None if r.rules is None else json.dumps(list(r.rules)),
                    ),
                )
        self.reload()

    # -- send -------------------------------------------------------------------------------

    def send(
        self,
        entity: str,
        messages: Sequence[tuple[str, dict[str, Any], bytes, float | None, float | None]],
        now: float,
    ) -> set[str]:
        """Accept messages `(message_id, props, body, scheduled_at, ttl_seconds)`; return the
        receivers that got a copy. Duplicates (same id within the window) are accepted and
        dropped, as Service Bus does."""
        cfg = self._sender(entity)
        targets = self.subscriptions.get(entity, []) if cfg.kind == "topic" else [self.receiver(entity)]
        woken: set[str] = set()
        db = self.db
        with self._tx():
            window_start = now - cfg.duplicate_window
            if cfg.duplicate_window > 0 and now >= self._next_cleanup.get(entity, 0.0):
                # forget ids older than the window now and then, not on every send
                db.execute("DELETE FROM seen_ids WHERE sender = ? AND seen_at < ?", (entity, window_start))
                self._next_cleanup[entity] = now + min(cfg.duplicate_window / 10, 60.0)
            for message_id, props, body, scheduled_at, ttl in messages:
                if cfg.duplicate_window > 0:
                    if db.execute(
                        "SELECT 1 FROM seen_ids WHERE sender = ? AND message_id = ? AND seen_at >= ?",
                        (entity, message_id, window_start),
                    ).fetchone():
                        continue
                    db.execute("INSERT OR REPLACE INTO seen_ids VALUES (?, ?, ?)", (entity, message_id, now))
                app = props.get("application_properties") or {}
                accepting = [t for t in targets if t.accepts(app)]
                if not accepting:
                    continue  # a topic with no matching subscription drops the message
                enqueued = max(now, scheduled_at or now)
                ttls = [t for t in (ttl, cfg.default_ttl) if t is not None]
                expires = enqueued + min(ttls) if ttls else None
                seq = db.execute(
                    "INSERT INTO messages (sender, message_id, enqueued_at, expires_at, props, body) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (entity, message_id, enqueued, expires, json.dumps(props, separators=(",", ":")), body),
                ).lastrowid
                db.executemany(
                    "INSERT INTO copies (receiver, seq, visible_at) VALUES (?, ?, ?)",
                    [(t.path, seq, enqueued) for t in accepting],
                )
                woken.update(t.path for t in accepting)
        return woken

    # -- receive / peek ---------------------------------------------------------------------

    def receive(self, path: str, dead: bool, max_count: int, now: float) -> tuple[list[Row], float | None]:
        """Lock up to `max_count` visible copies (FIFO), counting a delivery for each. Copies whose
        TTL passed, or that have used up their deliveries, are moved on first. Returns the rows and,
        when none, the next time something becomes visible (scheduled or lock expiry)."""
        cfg = self.receiver(path)
        got: list[Row] = []
        db = self.db
        with self._tx():
            after = -1
            while len(got) < max_count:
                rows = db.execute(
                    f"SELECT {_COLUMNS}, c.last_error FROM copies c JOIN messages m ON m.seq = c.seq "
                    "WHERE c.receiver = ? AND c.dead = ? AND c.id > ? AND c.visible_at <= ? "
                    "ORDER BY c.id LIMIT ?",
                    (path, int(dead), after, now, max_count - len(got) + 8),
                ).fetchall()
                if not rows:
                    break
                for row in rows:
                    after = row[0]
                    if len(got) >= max_count:
                        break
                    if not dead and self._retire(cfg, row, now):
                        continue
                    token = str(uuid.uuid4())
                    lock_until = now + cfg.lock_duration
                    db.execute(
                        "UPDATE copies SET lock_token = ?, visible_at = ?, "
                        "delivery_count = delivery_count + 1 "
                        "WHERE id = ?",
                        (token, lock_until, row[0]),
                    )
                    got.append((*row[:4], lock_until, row[5] + 1, token, *row[7:15]))
            next_visible = None
            if not got:
                next_visible = db.execute(
                    "SELECT MIN(visible_at) FROM copies WHERE receiver = ? AND dead = ? AND visible_at > ?",
                    (path, int(dead), now),
                ).fetchone()[0]
        return got, next_visible

    def _retire(self, cfg: ReceiverConfig, row: Row, now: float) -> bool:
        """Expire or dead-letter a visible copy that may no longer be delivered; True if it was."""
        copy_id, expires_at, delivery_count = row[0], row[12], row[5]
        if expires_at is not None and expires_at <= now:
            if cfg.dead_letter_on_expiration:
                self._to_dead_letter(copy_id, TTL_REASON, TTL_DESCRIPTION, now)
            else:
                self._delete(copy_id, row[2])
            return True
        if delivery_count >= cfg.max_delivery_count:
            self._to_dead_letter(copy_id, MAX_DELIVERY_REASON, max_delivery_text(delivery_count), now)
            return True
        return False

    def sweep(self, path: str, now: float) -> None:
        """Apply expiry and max delivery count to every visible copy of `path` (before a peek)."""
        cfg = self.receiver(path)
        with self._tx():
            rows = self.db.execute(
                f"SELECT {_COLUMNS}, c.last_error FROM copies c JOIN messages m ON m.seq = c.seq "
                "WHERE c.receiver = ? AND c.dead = 0 AND c.visible_at <= ? "
                "AND ((m.expires_at IS NOT NULL AND m.expires_at <= ?) OR c.delivery_count >= ?)",
                (path, now, now, cfg.max_delivery_count),
            ).fetchall()
            for row in rows:
                self._retire(cfg, row, now)

    def peek(self, path: str, dead: bool, max_count: int, from_seq: int) -> list[Row]:
        return self.db.execute(
            f"SELECT {_COLUMNS} FROM copies c JOIN messages m ON m.seq = c.seq "
            "WHERE c.receiver = ? AND c.dead = ? AND c.seq >= ? ORDER BY c.seq LIMIT ?",
            (path, int(dead), from_seq, max_count),
        ).fetchall()

    def counts(self, path: str, now: float) -> dict[str, int]:
        active, scheduled, locked, dead = self.db.execute(
            "SELECT "
            "COALESCE(SUM(dead = 0 AND lock_token IS NULL AND visible_at <= ?), 0), "
            "COALESCE(SUM(dead = 0 AND lock_token IS NULL AND visible_at > ?), 0), "
            "COALESCE(SUM(lock_token IS NOT NULL AND visible_at > ?), 0), "
            "COALESCE(SUM(dead = 1), 0) FROM copies WHERE receiver = ?",
            (now, now, now, path),
        ).fetchone()
        # a copy whose lock expired is active again
        expired_locks = self.db.execute(
            "SELECT COUNT(*) FROM copies WHERE receiver = ? AND dead = 0 "
            "AND lock_token IS NOT NULL AND visible_at <= ?",
            (path, now),
        ).fetchone()[0]
        return {
            "active": active + expired_locks,
            "scheduled": scheduled,
            "locked": locked,
            "dead_letter": dead,
        }

    # -- settlement -------------------------------------------------------------------------

    def _locked(self, token: str, now: float) -> tuple[int, int, str, int, int]:
        row = self.db.execute(
            "SELECT id, seq, receiver, dead, delivery_count FROM copies "
            "WHERE lock_token = ? AND visible_at > ?",
            (token, now),
        ).fetchone()
        if row is None:
            raise MessageLockLost(f"lock {token} expired or the message was already settled")
        return row  # type: ignore[no-any-return]

    def complete(self, tokens: Sequence[str], now: float) -> list[MessageLockLost | None]:
        """Complete many locked copies in one transaction; per token, None or the lock error."""
        results: list[MessageLockLost | None] = []
        with self._tx():
            for token in tokens:
                try:
                    copy_id, seq, *_ = self._locked(token, now)
                except MessageLockLost as exc:
                    results.append(exc)
                    continue
                self._delete(copy_id, seq)
                results.append(None)
        return results

    def abandon(self, token: str, error: str | None, now: float) -> str:
        with self._tx():
            copy_id, _seq, path, dead, delivery_count = self._locked(token, now)
            self.db.execute(
                "UPDATE copies SET lock_token = NULL, visible_at = ?, last_error = COALESCE(?, last_error) "
                "WHERE id = ?",
                (now, error, copy_id),
            )
            cfg = self.receiver(path)
            if not dead and delivery_count >= cfg.max_delivery_count:
                self._to_dead_letter(copy_id, MAX_DELIVERY_REASON, max_delivery_text(delivery_count), now)
        return path

    def dead_letter(self, token: str, reason: str | None, description: str | None, now: float) -> None:
        with self._tx():
            copy_id, _seq, path, dead, _dc = self._locked(token, now)
            if dead:
                raise ValueError(f"{path}: a dead letter cannot be dead-lettered again")
            self._to_dead_letter(copy_id, reason, description, now)

    def renew(self, token: str, now: float) -> float:
        with self._tx():
            copy_id, _seq, path, _dead, _dc = self._locked(token, now)
            until = now + self.receiver(path).lock_duration
            self.db.execute("UPDATE copies SET visible_at = ? WHERE id = ?", (until, copy_id))
        return until

    def _to_dead_letter(self, copy_id: int, reason: str | None, description: str | None, now: float) -> None:
        self.db.execute(
            "UPDATE copies SET dead = 1, lock_token = NULL, visible_at = ?, "
            "dl_reason = ?, dl_description = ? "
            "WHERE id = ?",
            (now, reason, description, copy_id),
        )

    def _delete(self, copy_id: int, seq: int) -> None:
        self.db.execute("DELETE FROM copies WHERE id = ?", (copy_id,))
        if self.db.execute("SELECT 1 FROM copies WHERE seq = ? LIMIT 1", (seq,)).fetchone() is None:
            self.db.execute("DELETE FROM messages WHERE seq = ?", (seq,))

    # -- transactions -----------------------------------------------------------------------

    def _tx(self, immediate: bool = True) -> _Transaction:
        # IMMEDIATE: take the write lock up front, so a second process waits (busy timeout)
        # instead of failing to upgrade a read transaction.
        return _Transaction(self.db, immediate)


class _Transaction:
    def __init__(self, db: sqlite3.Connection, immediate: bool) -> None:
        self.db, self.immediate = db, immediate

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE" if self.immediate else "BEGIN")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")

"""The embedded broker: Service Bus semantics on one SQLite file, async API.

All SQLite work runs on one worker thread (one connection, no lock contention inside the
process); other processes may open the same file (WAL, busy timeout), e.g. `cts dlq` while the
local host runs. Receivers in this process are woken at once by a send or an abandon in this
process; changes made by other processes are seen within `poll_interval`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from shared.bus.protocol import (
    TARGET_SUBSCRIPTION_PROPERTY,
    EntityRef,
    OutgoingMessage,
    PropertyValue,
    ReceivedMessage,
)

from ._store import MessageLockLost, ReceiverConfig, Row, SenderConfig, Store

T = TypeVar("T")
log = logging.getLogger("local.host.broker")
Clock = Callable[[], float]


@dataclass(frozen=True)
class CorrelationRule:
    """A SQL-less subscription rule on application properties: every named property must have the
    given value; `None` means "absent". A subscription accepts a message when any rule matches."""

    properties: dict[str, PropertyValue | None]


def targeting_rules(subscription: str) -> tuple[CorrelationRule, ...]:
    """The replay-targeting pair: `x-target-subscription` absent, or equal to this subscription."""
    return (
        CorrelationRule({TARGET_SUBSCRIPTION_PROPERTY: None}),
        CorrelationRule({TARGET_SUBSCRIPTION_PROPERTY: subscription}),
    )


@dataclass(frozen=True)
class Subscription:
    """A subscription declaration. `rules=None` gives the replay-targeting rules (the default for
    a plain name); `rules=()` accepts every message (Service Bus's TrueFilter)."""

    name: str
    rules: tuple[CorrelationRule, ...] | None = None
    max_delivery_count: int | None = None
    lock_duration: timedelta | None = None


def _ts(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


INLINE_BUSY_MS = 20
"""How long an inline SQLite call waits for another process's lock before moving to the thread."""
PATIENT_BUSY_MS = 30_000
"""How long a call on the thread waits for another process's lock (the connection's timeout)."""

CHECKPOINT_EVERY = 200
"""Inline broker: calls between two passive WAL checkpoints (made on the thread)."""
WAL_LIMIT = 16 * 1024 * 1024
"""Inline broker: a WAL larger than this is truncated by the next checkpoint."""

MAX_MESSAGE_BYTES = 256 * 1024
"""Service Bus Standard: 256 KB per message, headers included
(https://learn.microsoft.com/azure/service-bus-messaging/service-bus-quotas). The broker refuses
a larger body, as the service does (azure-servicebus raises MessageSizeExceededError)."""


class MessageSizeExceeded(ValueError):
    pass


def _header_bytes(m: OutgoingMessage) -> int:
    """What the headers add to a message's size, estimated from above: the UTF-8 bytes of every
    set system property and of every application property's name and value, plus the AMQP
    encoding around them (a constructor and a 4-byte length per string, `_PER_FIELD`) and a fixed
    `_FIXED_HEADER` for the sections the service adds (sequence number, enqueued time, lock
    token). The quotas page counts "both header ... and body" against 256 KB; over-estimating
    keeps the stand-in at least as strict: a message it accepts, the service accepts."""
    fields = [str(getattr(m, k)) for k in _PROPS if getattr(m, k) is not None]
    fields.append(str(m.message_id or ""))
    for name, value in m.application_properties.items():
        fields += [str(name), str(value)]
    return _FIXED_HEADER + sum(len(f.encode()) + _PER_FIELD for f in fields)


_PER_FIELD = 5
_FIXED_HEADER = 256


_PROPS = ("content_type", "subject", "correlation_id", "session_id", "to", "reply_to", "partition_key")


class Broker:
    """Topics with subscriptions, queues, peek-lock, dead-lettering, duplicate detection,
    scheduling and TTL. Implements `BusSender` and `DeadLetterBus` (shared/bus/protocol.py)."""

    def __init__(
        self,
        path: str | Path,
        *,
        poll_interval: float = 1.0,
        clock: Clock = time.time,
        durable: bool = False,
        inline: bool = False,
    ) -> None:
        """`inline`: run each SQLite call on the caller's event loop (sub-millisecond in WAL)
        and only one that finds the file locked by another process (`INLINE_BUSY_MS`) on the
        worker thread, where it may wait out the lock; otherwise every call is on the thread.
        The local host uses inline: a thread hop per call costs a GIL hand-over each way, which
        on a busy 2-core machine was most of a webhook answer's time (its queue write)."""
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.poll_interval = poll_interval
        self.clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="broker")
        self._store: Store = self._executor.submit(Store, self.path, durable=durable).result()
        self._signals: dict[str, asyncio.Event] = {}
        self._completions: list[tuple[str, asyncio.Future[None]]] = []
        self._flusher: asyncio.Future[None] | None = None
        self._inline = inline
        self._on_thread = asyncio.Lock()  # held while a call that found the file locked waits there
        self._calls = 0
        self._checkpoint: asyncio.Future[None] | None = None
        self._checkpointer: sqlite3.Connection | None = None
        if inline:
            self._executor.submit(self._store.db.execute, f"PRAGMA busy_timeout={INLINE_BUSY_MS}").result()
            if self.path != ":memory:":
                # No automatic checkpoint in an inline commit (its fsyncs stalled the loop for
                # ~250 ms on a busy disk): a passive checkpoint on the thread, with a connection
                # of its own, every CHECKPOINT_EVERY calls (`_run`).
                self._store.db.execute("PRAGMA wal_autocheckpoint=0")
                self._checkpointer = self._executor.submit(
                    sqlite3.connect, self.path, check_same_thread=False, timeout=PATIENT_BUSY_MS / 1000
                ).result()

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._checkpoint is not None:
            await asyncio.gather(self._checkpoint, return_exceptions=True)
        await self._run(self._store.close)
        if self._checkpointer is not None:
            self._executor.submit(self._checkpointer.close).result()
        self._executor.shutdown(wait=True)

    async def __aenter__(self) -> Broker:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        if not self._inline:
            return await loop.run_in_executor(self._executor, partial(fn, *args))
        if self._on_thread.locked():  # one connection: wait for the call on the thread
            async with self._on_thread:
                pass
        self._calls += 1
        due = self._calls % CHECKPOINT_EVERY == 0
        if due and self._checkpointer is not None and self._checkpoint is None:
            self._checkpoint = loop.run_in_executor(self._executor, self._checkpoint_wal)
            self._checkpoint.add_done_callback(self._checkpoint_done)
        try:
            return fn(*args)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        async with self._on_thread:  # locked by another process: wait for it off the loop
            return await loop.run_in_executor(self._executor, partial(self._patiently, fn, *args))

    def _checkpoint_wal(self) -> None:
        """Passive: copies what is committed without waiting for anyone; the next write after a
        complete one starts the WAL over. A WAL that grew past WAL_LIMIT under sustained writes
        is truncated (waiting for writers, who meanwhile move to the thread: not the loop)."""
        assert self._checkpointer is not None
        wal = Path(self.path + "-wal")
        big = wal.exists() and wal.stat().st_size > WAL_LIMIT
        self._checkpointer.execute(f"PRAGMA wal_checkpoint({'TRUNCATE' if big else 'PASSIVE'})").fetchall()

    def _checkpoint_done(self, done: asyncio.Future[None]) -> None:
        self._checkpoint = None
        if not done.cancelled() and done.exception() is not None:  # the next one tries again
            log.warning("broker WAL checkpoint failed: %s", done.exception())

    def _patiently(self, fn: Callable[..., T], *args: Any) -> T:
        db = self._store.db
        db.execute(f"PRAGMA busy_timeout={PATIENT_BUSY_MS}")
        try:
            return fn(*args)
        finally:
            db.execute(f"PRAGMA busy_timeout={INLINE_BUSY_MS}")

    # -- declarations -----------------------------------------------------------------------

    async def ensure_topic(
        self,
        name: str,
        subscriptions: Sequence[str | Subscription] = (),
        *,
        max_delivery_count: int = 10,
        lock_duration: timedelta = timedelta(seconds=60),
        duplicate_detection_window: timedelta | None = None,
        default_message_time_to_live: timedelta | None = None,
        dead_lettering_on_message_expiration: bool = False,
    ) -> None:
        """Declare (or update) a topic and the given subscriptions; idempotent."""
        subs = [s if isinstance(s, Subscription) else Subscription(s) for s in subscriptions]
        receivers = [
            ReceiverConfig(
                path=EntityRef(name, s.name).path,
                sender=name,
                lock_duration=(s.lock_duration or lock_duration).total_seconds(),
                max_delivery_count=s.max_delivery_count or max_delivery_count,
                dead_letter_on_expiration=dead_lettering_on_message_expiration,
                rules=tuple(r.properties for r in (targeting_rules(s.name) if s.rules is None else s.rules))
                or None,
            )
            for s in subs
        ]
        await self._run(
            self._store.declare,
            self._sender(name, "topic", duplicate_detection_window, default_message_time_to_live),
            receivers,
        )

    async def ensure_queue(
        self,
        name: str,
        *,
        max_delivery_count: int = 10,
        lock_duration: timedelta = timedelta(seconds=60),
        duplicate_detection_window: timedelta | None = None,
        default_message_time_to_live: timedelta | None = None,
        dead_lettering_on_message_expiration: bool = False,
    ) -> None:
        """Declare (or update) a queue; idempotent."""
        receiver = ReceiverConfig(
            name,
            name,
            lock_duration.total_seconds(),
            max_delivery_count,
            dead_lettering_on_message_expiration,
            None,
        )
        await self._run(
            self._store.declare,
            self._sender(name, "queue", duplicate_detection_window, default_message_time_to_live),
            [receiver],
        )

    @staticmethod
    def _sender(name: str, kind: str, window: timedelta | None, ttl: timedelta | None) -> SenderConfig:
        return SenderConfig(
            name, kind, window.total_seconds() if window else 0.0, ttl.total_seconds() if ttl else None
        )

    # -- BusSender --------------------------------------------------------------------------

    async def send(self, entity: str, messages: Sequence[OutgoingMessage]) -> None:
        """Accept messages for a topic or queue. A message without an id gets a new one."""
        for m in messages:
            size = len(m.body) + _header_bytes(m)
            if size > MAX_MESSAGE_BYTES:
                raise MessageSizeExceeded(
                    f"The message of {size} bytes (body and properties) exceeds the maximum size of "
                    f"{MAX_MESSAGE_BYTES} bytes (Service Bus Standard tier)."
                )
        rows = []
        for m in messages:
            props: dict[str, Any] = {k: getattr(m, k) for k in _PROPS if getattr(m, k) is not None}
            props["application_properties"] = dict(m.application_properties)
            if m.time_to_live is not None:
                props["time_to_live"] = m.time_to_live.total_seconds()
            if m.scheduled_enqueue_time is not None:
                props["scheduled_enqueue_time"] = _ts(m.scheduled_enqueue_time)
            rows.append(
                (
                    m.message_id or uuid.uuid4().hex,
                    props,
                    bytes(m.body),
                    _ts(m.scheduled_enqueue_time),
                    m.time_to_live.total_seconds() if m.time_to_live is not None else None,
                )
            )
        woken = await self._run(self._store.send, entity, rows, self.clock())
        for path in woken:
            self._wake(path)

    # -- receiving and settlement -----------------------------------------------------------

    async def receive(
        self,
        entity: EntityRef | str,
        *,
        max_count: int = 1,
        max_wait: float = 0.0,
        dead_letter: bool = False,
        stop: asyncio.Event | None = None,
    ) -> list[ReceivedMessage]:
        """Peek-lock up to `max_count` messages; wait up to `max_wait` s (or until `stop` is set)
        for the first one. Each received message counts one delivery."""
        ref = EntityRef.parse(entity) if isinstance(entity, str) else entity
        deadline = time.monotonic() + max_wait
        while True:
            signal = self._signal(ref.path)
            rows, next_visible = await self._run(
                self._store.receive, ref.path, dead_letter, max_count, self.clock()
            )
            if rows:
                return [self._message(ref, r) for r in rows]
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                return []
            timeout = min(remaining, self.poll_interval)
            if next_visible is not None:
                timeout = min(timeout, max(next_visible - self.clock(), 0.001))
            await self._wait(signal, stop, timeout)

    async def peek(
        self,
        entity: EntityRef | str,
        *,
        max_count: int = 100,
        from_sequence_number: int = 0,
        dead_letter: bool = False,
    ) -> list[ReceivedMessage]:
        """Messages in sequence order without locking them (expiry and max delivery applied first)."""
        ref = EntityRef.parse(entity) if isinstance(entity, str) else entity
        await self._run(self._store.sweep, ref.path, self.clock())
        rows = await self._run(self._store.peek, ref.path, dead_letter, max_count, from_sequence_number)
        return [self._message(ref, r, peeked=True) for r in rows]

    async def complete(self, message: ReceivedMessage) -> None:
        """Remove a locked message. Completions arriving together share one transaction (the
        delivery loop completes many messages at once); each caller still gets its own result."""
        token = self._token(message)
        done = asyncio.get_running_loop().create_future()
        self._completions.append((token, done))
        if len(self._completions) == 1:
            # starts on the next loop iteration: completions made meanwhile join the batch
            self._flusher = asyncio.ensure_future(self._flush_completions())
        await done

    async def _flush_completions(self) -> None:
        batch, self._completions = self._completions, []
        try:
            results = await self._run(self._store.complete, [t for t, _ in batch], self.clock())
        except Exception as exc:  # the whole transaction failed: every caller hears it
            results = [exc] * len(batch)  # type: ignore[list-item]
        for (_, done), error in zip(batch, results, strict=True):
            if done.cancelled():
                continue
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

    async def abandon(self, message: ReceivedMessage, *, error: str | None = None) -> None:
        """Release the lock: the message is available again at once. `error` is kept as the last
        error (for the logs); like Azure, the dead letter's description is not taken from it."""
        path = await self._run(self._store.abandon, self._token(message), error, self.clock())
        self._wake(path)

    async def dead_letter(
        self, message: ReceivedMessage, *, reason: str | None = None, description: str | None = None
    ) -> None:
        await self._run(self._store.dead_letter, self._token(message), reason, description, self.clock())

    async def renew_lock(self, message: ReceivedMessage) -> datetime:
        until = await self._run(self._store.renew, self._token(message), self.clock())
        return datetime.fromtimestamp(until, UTC)

    async def lock_duration(self, entity: EntityRef | str) -> float:
        """The lock duration of a queue or subscription, in seconds."""
        ref = EntityRef.parse(entity) if isinstance(entity, str) else entity
        cfg = await self._run(self._store.receiver, ref.path)
        return cfg.lock_duration

    async def counts(self, entity: EntityRef | str) -> dict[str, int]:
        """`active`, `scheduled`, `locked` and `dead_letter` message counts of a queue or subscription."""
        ref = EntityRef.parse(entity) if isinstance(entity, str) else entity
        await self._run(self._store.sweep, ref.path, self.clock())
        return await self._run(self._store.counts, ref.path, self.clock())

    # -- DeadLetterBus ----------------------------------------------------------------------

    async def peek_dead_letters(
        self, entity: EntityRef, *, max_count: int = 100, from_sequence_number: int = 0
    ) -> list[ReceivedMessage]:
        return await self.peek(
            entity, max_count=max_count, from_sequence_number=from_sequence_number, dead_letter=True
        )

    @asynccontextmanager
    async def dead_letter_receiver(self, entity: EntityRef) -> AsyncIterator[_DeadLetterReceiver]:
        receiver = _DeadLetterReceiver(self, entity)
        try:
            yield receiver
        finally:
            await receiver.release()

    # -- QueueBus ---------------------------------------------------------------------------

    @asynccontextmanager
    async def queue_receiver(self, queue: str) -> AsyncIterator[_QueueReceiver]:
        """A peek-lock receiver on the queue's active messages (`QueueBus`)."""
        receiver = _QueueReceiver(self, EntityRef(queue))
        try:
            yield receiver
        finally:
            await receiver.release()

    # -- internals --------------------------------------------------------------------------

    @staticmethod
    def _token(message: ReceivedMessage) -> str:
        if message.lock_token is None:
            raise ValueError("a peeked message has no lock; receive it to settle it")
        return message.lock_token

    def _signal(self, path: str) -> asyncio.Event:
        signal = self._signals.get(path)
        if signal is None:
            signal = self._signals[path] = asyncio.Event()
        return signal

    def _wake(self, path: str) -> None:
        signal = self._signals.pop(path, None)
        if signal is not None:
            signal.set()

    @staticmethod
    async def _wait(signal: asyncio.Event, stop: asyncio.Event | None, seconds: float) -> None:
        waits = [asyncio.ensure_future(signal.wait())]
        if stop is not None:
            waits.append(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    @staticmethod
    def _message(ref: EntityRef, row: Row, *, peeked: bool = False) -> ReceivedMessage:
        (
            _id,
            _path,
            seq,
            dead,
            visible_at,
            delivery_count,
            token,
            reason,
            description,
            source,
            message_id,
            enqueued_at,
            expires_at,
            props_json,
            body,
        ) = row[:15]
        props = json.loads(props_json)
        ttl = props.get("time_to_live")
        return ReceivedMessage(
            body=body,
            message_id=message_id,
            sequence_number=seq,
            enqueued_time=_dt(enqueued_at) or _dt(0.0),  # type: ignore[arg-type]
            delivery_count=delivery_count,
            entity=ref,
            dead_lettered=bool(dead),
            **{k: props.get(k) for k in _PROPS},
            application_properties=props.get("application_properties") or {},
            time_to_live=timedelta(seconds=ttl) if ttl is not None else None,
            expires_at=_dt(expires_at),
            scheduled_enqueue_time=_dt(props.get("scheduled_enqueue_time")),
            dead_letter_reason=reason,
            dead_letter_error_description=description,
            dead_letter_source=source,
            lock_token=None if peeked else token,
            locked_until=None if peeked else _dt(visible_at),
        )


class _DeadLetterReceiver:
    """`DeadLetterReceiver` on the broker; closing it abandons what it did not settle."""

    _sub_queue = True  # receives the dead-letter sub-queue

    def __init__(self, broker: Broker, entity: EntityRef) -> None:
        self.broker, self.entity = broker, entity
        self._held: dict[str, ReceivedMessage] = {}

    async def receive(self, max_count: int = 10, max_wait: float = 1.0) -> list[ReceivedMessage]:
        got = await self.broker.receive(
            self.entity, max_count=max_count, max_wait=max_wait, dead_letter=self._sub_queue
        )
        self._held.update((m.lock_token, m) for m in got if m.lock_token)
        return got

    async def complete(self, message: ReceivedMessage) -> None:
        await self.broker.complete(message)
        self._held.pop(message.lock_token or "", None)

    async def abandon(self, message: ReceivedMessage) -> None:
        self._held.pop(message.lock_token or "", None)
        await self.broker.abandon(message)

    async def release(self) -> None:
        for message in list(self._held.values()):
            try:
                await self.abandon(message)
            except MessageLockLost:
                pass


class _QueueReceiver(_DeadLetterReceiver):
    """`QueueReceiver` on the broker: a queue's active messages, dead-lettered with a reason."""

    _sub_queue = False

    async def dead_letter(self, message: ReceivedMessage, *, reason: str, description: str) -> None:
        await self.broker.dead_letter(message, reason=reason, description=description)
        self._held.pop(message.lock_token or "", None)

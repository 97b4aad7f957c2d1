"""Timer triggers: NCRONTAB/TimeSpan schedules, run-on-startup and past-due, never overlapping.

Like Azure's schedule monitor, the host records each timer's last and next run (here in SQLite,
``<data>/host.sqlite``). At start-up a timer whose recorded next run has passed while the host
was down fires once with ``past_due=True`` (missed occurrences are not replayed one by one);
otherwise ``run_on_startup`` fires it once. Each timer is one loop that awaits its invocation
before computing the next occurrence, so a slow run skips occurrences instead of overlapping.
Schedules are evaluated in UTC, or in ``WEBSITE_TIME_ZONE`` (an IANA name) when set.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from azure.functions.timer import TimerRequest

from local.host.aio import wait_event
from local.host.invoke import Invoker
from local.host.loader import FunctionSpec
from local.host.ncrontab import IntervalSchedule

log = logging.getLogger("local.host")
LATE = timedelta(seconds=5)  # an occurrence fired later than this is reported past due


@dataclass(frozen=True)
class TimerStatus:
    last: datetime
    next: datetime
    last_updated: datetime
    schedule: str


class TimerStatusStore:
    """Last/next run per timer function, in a small SQLite table."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS timer_status (function TEXT PRIMARY KEY, last TEXT NOT NULL, "
            "next TEXT NOT NULL, last_updated TEXT NOT NULL, schedule TEXT NOT NULL)"
        )

    def get(self, function: str) -> TimerStatus | None:
        row = self._db.execute(
            "SELECT last, next, last_updated, schedule FROM timer_status WHERE function=?", (function,)
        ).fetchone()
        if row is None:
            return None
        last, next_run, updated = (datetime.fromisoformat(v) for v in row[:3])
        return TimerStatus(last, next_run, updated, row[3])

    def put(self, function: str, status: TimerStatus) -> None:
        self._db.execute(
            "INSERT INTO timer_status VALUES (?,?,?,?,?) ON CONFLICT(function) DO UPDATE SET "
            "last=excluded.last, next=excluded.next, last_updated=excluded.last_updated, "
            "schedule=excluded.schedule",
            (
                function,
                status.last.isoformat(),
                status.next.isoformat(),
                status.last_updated.isoformat(),
                status.schedule,
            ),
        )

    def close(self) -> None:
        self._db.close()


def schedule_zone() -> tzinfo:
    name = os.environ.get("WEBSITE_TIME_ZONE")
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("WEBSITE_TIME_ZONE '%s' is not an IANA time zone; timers use UTC", name)
        return UTC


class TimerScheduler:
    """Runs every timer function of the app until `stop` is set."""

    def __init__(
        self,
        timers: list[FunctionSpec],
        invoker: Invoker,
        store: TimerStatusStore,
        *,
        executor: Executor | None = None,
        clock: type[datetime] = datetime,
    ) -> None:
        self.timers = timers
        self.invoker = invoker
        self.store = store
        self.executor = executor
        self.zone = schedule_zone()
        self._clock = clock
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.next_runs: dict[str, datetime] = {}

    def now(self) -> datetime:
        return self._clock.now(UTC).astimezone(self.zone)

    def next_occurrence(self, spec: FunctionSpec, after: datetime) -> datetime:
        assert spec.schedule is not None
        return spec.schedule.next_after(after.astimezone(self.zone))

    def start(self) -> None:
        now = self.now()
        for spec in self.timers:
            status = self.store.get(spec.name)
            self.next_runs[spec.name] = self._recorded_next(spec, status) or self.next_occurrence(spec, now)
            self._tasks.append(asyncio.create_task(self._run(spec, status), name=f"timer:{spec.name}"))

    async def stop(self, grace: float) -> None:
        """Stop scheduling; let running invocations finish within ``grace`` seconds, then cancel."""
        self._stop.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            results = await asyncio.gather(*self._tasks, return_exceptions=True)
            for spec, result in zip(self.timers, results, strict=True):
                if isinstance(result, Exception):
                    log.error("timer loop of '%s' failed", spec.name, exc_info=result)

    def _recorded_next(self, spec: FunctionSpec, status: TimerStatus | None) -> datetime | None:
        if status is None:
            return None
        assert spec.schedule is not None
        if status.schedule != spec.schedule.expression:  # schedule changed: judge by the new one
            return self.next_occurrence(spec, status.last)
        return status.next.astimezone(self.zone)

    async def _run(self, spec: FunctionSpec, status: TimerStatus | None) -> None:
        recorded_next = self._recorded_next(spec, status)
        now = self.now()
        if recorded_next is not None and now > recorded_next:
            log.info(
                "Timer '%s' is past due: its run at %s was missed",
                spec.name,
                recorded_next.isoformat(),
                extra={"function": spec.name},
            )
            await self._fire(spec, scheduled=recorded_next, past_due=True, reason="past due at start-up")
        elif spec.trigger.get("runOnStartup"):
            await self._fire(spec, scheduled=now, past_due=False, reason="run on start-up")
        elif status is None:
            self._record(spec, last=now, next_run=self.next_occurrence(spec, now))
        while not self._stop.is_set():
            base = self.now()
            if isinstance(spec.schedule, IntervalSchedule) and self.next_runs.get(spec.name, base) > base:
                next_run = self.next_runs[spec.name]
            else:
                next_run = self.next_occurrence(spec, base)
            self.next_runs[spec.name] = next_run
            delay = (next_run - self.now()).total_seconds()
            if delay > 0:
                if await wait_event(self._stop, delay):
                    return  # stopping
            late = self.now() - next_run > LATE
            await self._fire(spec, scheduled=next_run, past_due=late, reason="timer fired")

    async def _fire(self, spec: FunctionSpec, *, scheduled: datetime, past_due: bool, reason: str) -> None:
        status = self.store.get(spec.name)
        schedule_status = (
            {}
            if status is None
            else {
                "Last": status.last.isoformat(),
                "Next": status.next.isoformat(),
                "LastUpdated": status.last_updated.isoformat(),
            }
        )
        request = TimerRequest(
            past_due=past_due, schedule_status=schedule_status, schedule={"AdjustForDST": True}
        )
        try:
            await self.invoker.invoke(
                spec, request, reason=reason, executor=self.executor, details={"past_due": past_due}
            )
        except Exception:  # logged by the invoker; a failed run does not stop the schedule
            pass
        now = self.now()
        next_run = self.next_occurrence(spec, now)
        self.next_runs[spec.name] = next_run
        self._record(spec, last=scheduled, next_run=next_run)

    def _record(self, spec: FunctionSpec, *, last: datetime, next_run: datetime) -> None:
        assert spec.schedule is not None
        self.store.put(
            spec.name,
            TimerStatus(
                last.astimezone(UTC),
                next_run.astimezone(UTC),
                self.now().astimezone(UTC),
                spec.schedule.expression,
            ),
        )

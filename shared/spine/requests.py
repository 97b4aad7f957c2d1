"""Requesting a pass, and the sweeper: the only code that starts a feature's orchestration."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from shared import telemetry
from shared.spine.feature import Feature
from shared.spine.queue import RequestQueue

log = logging.getLogger("cts.spine")

ACTIVE_STATUSES = frozenset({"Running", "Pending", "ContinuedAsNew"})
START_ATTEMPTS = 3
STATUS_RECHECK = timedelta(seconds=5)
"""While a key has an uncovered request, further requests within this time of the last status
check skip their own check: a burst of drift for one team (hundreds of notifications a second,
each queue message a batch) costs one Durable status query per team per 5 s, not one per batch.
Safe because the earlier request is covered by a pass that starts after it (the running
orchestration's finish sees the new count and runs one more pass) or, if its start was refused,
its requester died or its orchestration failed, by the sweeper -- the same guarantee as a refused
start, but a delay of one sweep (plus the Failed back-off). So it is opt-in (`recheck=`): only
drift's bursts of team notifications use it; a task, Commerce or records request always checks."""


class OrchestrationClient(Protocol):
    """What the spine needs from Durable's client (adapted in functions/durable_client.py from
    `DurableOrchestrationClient`, whose import is not allowed in shared/)."""

    async def runtime_status(self, instance_id: str) -> str | None: ...

    async def start_new(self, orchestrator: str, instance_id: str, input: Any) -> None: ...

    async def last_updated(self, instance_id: str) -> datetime | None: ...


async def request(
    feature: Feature,
    key: str,
    client: OrchestrationClient,
    queue: RequestQueue,
    *,
    reason: str,
    recheck: timedelta | None = None,
) -> Literal["started", "pending"]:
    """Make sure `key` gets a pass that starts after this call: count the request, then start the
    key's orchestration unless it is running. 'started', or 'pending' when a running orchestration
    will see the count when its pass ends -- or the start was refused every time (a concurrent
    start, an instance completing right now, a Durable hiccup): the request stays counted and the
    sweeper starts it, so it is delayed by one sweep, never lost."""
    _, check = await queue.request_checking(key, recheck)
    if not check:
        return "pending"
    iid = feature.instance_id(key)
    for attempt in range(START_ATTEMPTS):
        if await client.runtime_status(iid) in ACTIVE_STATUSES:
            return "pending"
        try:
            await client.start_new(feature.orchestrator, iid, {"key": key, "reason": reason})
            return "started"
        except Exception as exc:  # refused; the status check above tells which case it was
            telemetry.log_event(
                log,
                "orchestration start refused",
                feature=feature.name,
                key=key,
                attempt=attempt + 1,
                error=str(exc),
            )
    telemetry.log_event(
        log,
        "orchestration not started; left to the sweeper",
        level=logging.WARNING,
        feature=feature.name,
        key=key,
    )
    return "pending"


async def request_many(
    feature: Feature, keys: Iterable[str], client: OrchestrationClient, queue: RequestQueue, *, reason: str
) -> int:
    """`request` for each distinct key; counts and returns how many orchestrations were started."""
    started = 0
    for key in dict.fromkeys(keys):
        if await request(feature, key, client, queue, reason=reason) == "started":
            started += 1
    await queue.bump_started(started)
    return started


async def sweep(
    feature: Feature,
    client: OrchestrationClient,
    queue: RequestQueue,
    *,
    failed_retry_after_seconds: float,
    now: datetime | None = None,
) -> list[str]:
    """Start the orchestration of every key with requests no pass has covered and none running (a
    request that raced a completion, a refused start, a crash). A key whose orchestration Failed or
    was Terminated is retried only once `failed_retry_after_seconds` have passed since then."""
    started: list[str] = []
    for key in await queue.pending():
        iid = feature.instance_id(key)
        status = await client.runtime_status(iid)
        if status in ACTIVE_STATUSES:
            continue
        if status in ("Failed", "Terminated"):
            updated = await client.last_updated(iid)
            elapsed = ((now or datetime.now(UTC)) - updated).total_seconds() if updated else None
            if elapsed is not None and elapsed < failed_retry_after_seconds:
                continue
        try:
            await client.start_new(feature.orchestrator, iid, {"key": key, "reason": "sweeper"})
        except Exception:  # a trigger started it meanwhile; it covers the requests
            continue
        started.append(key)
    return started

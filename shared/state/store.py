"""The state store: generic machinery over either backend (SQLite or Azure Tables) -- named
values, leases, request counting (the spine), processed event ids and control numbers (cheap
duplicate skipping), counters, the app's own recent Graph writes (echo suppression for webhooks)
and an audit trail (DLQ replay/purge). It knows no feature's records: each feature owns its
partitions in a module of its own, over `StateStore.backend` and the named values --
the team mapping shared by every feature (shared/state/teams.py), the team pass's last results
and the reconciliation reports (shared/sync/records.py), the Graph subscriptions
(shared/drift/subscription_records.py), task mirroring's pairs (shared/mirror/pairs.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.state.backend import WRITE_LIMIT, Backend, StateConflict, Write

MAPPINGS, SYNCS, EVENTS, SCOPES, REPORTS, ECHOES, AUDIT, REQUESTS, LEASES, PEOPLE, SUBSCRIPTIONS = (
    "mappings",
    "syncs",
    "events",
    "scopes",
    "reports",
    "echoes",
    "audit",
    "requests",
    "leases",
    "people",
    "subscriptions",
)
PAIRS = "pairs"  # task mirroring: pair status, last mirror result, plan per store, poll state


def _now() -> datetime:
    return datetime.now(UTC)


class StateStore:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    # -- team mappings ---------------------------------------------------------------------

    # -- leases (one pass per team at a time, across orchestrations and hosts) ----------------
    async def acquire_lease(self, name: str, owner: str, ttl: timedelta) -> bool:
        until = (_now() + ttl).isoformat()
        found = await self.backend.get(LEASES, "lease", name)
        try:
            if found is None:
                await self.backend.insert(LEASES, "lease", name, {"owner": owner, "until": until})
                return True
            if found.data["owner"] == owner or datetime.fromisoformat(found.data["until"]) <= _now():
                await self.backend.upsert(
                    LEASES, "lease", name, {"owner": owner, "until": until}, if_match=found.etag
                )
                return True
        except StateConflict:
            return False
        return False

    async def release_lease(self, name: str, owner: str) -> None:
        found = await self.backend.get(LEASES, "lease", name)
        if found is not None and found.data["owner"] == owner:
            try:
                await self.backend.upsert(
                    LEASES, "lease", name, {"owner": "", "until": _now().isoformat()}, if_match=found.etag
                )
            except StateConflict:
                pass

    # -- duplicate events ------------------------------------------------------------------
    async def claim_event(self, dedupe_key: str) -> bool:
        """True the first time an event id is seen; False for a duplicate (atomic)."""
        try:
            await self.backend.insert(EVENTS, "seen", dedupe_key, {"at": _now().isoformat()})
        except StateConflict:
            return False
        return True

    async def event_seen(self, dedupe_key: str) -> bool:
        return await self.backend.get(EVENTS, "seen", dedupe_key) is not None

    async def mark_event(self, dedupe_key: str) -> None:
        """Remember an event as handled (after it was handled: a failed attempt stays retryable)."""
        await self.backend.upsert(EVENTS, "seen", dedupe_key, {"at": _now().isoformat()})

    async def last_control_number(self, scope: str) -> int | None:
        found = await self.backend.get(SCOPES, "control", scope)
        return None if found is None else int(found.data["n"])

    async def bump(self, counter: str, by: int = 1) -> None:
        """Add to a named counter (events received, duplicates skipped, ...)."""
        for _ in range(32):
            found = await self.backend.get(SCOPES, "counter", counter)
            try:
                if found is None:
                    await self.backend.insert(SCOPES, "counter", counter, {"n": by})
                else:
                    await self.backend.upsert(
                        SCOPES, "counter", counter, {"n": int(found.data["n"]) + by}, if_match=found.etag
                    )
                return
            except StateConflict:
                continue

    async def counters(self) -> dict[str, int]:
        return {e.row: int(e.data["n"]) async for e in self.backend.query(SCOPES, "counter")}

    async def note_control_number(self, scope: str, control_number: int) -> bool:
        """Record the highest ControlNumber seen for a scope. False if this one is not newer
        (an older or repeated event for a scope already handled at a later state)."""
        for _ in range(8):
            found = await self.backend.get(SCOPES, "control", scope)
            if found is None:
                try:
                    await self.backend.insert(SCOPES, "control", scope, {"n": control_number})
                    return True
                except StateConflict:
                    continue
            if int(found.data["n"]) >= control_number:
                return False
            try:
                await self.backend.upsert(
                    SCOPES, "control", scope, {"n": control_number}, if_match=found.etag
                )
                return True
            except StateConflict:
                continue
        raise StateConflict(f"control number of {scope} kept changing")

    async def forget_events_before(self, cutoff: datetime) -> int:
        """Delete the dedupe records of events handled before `cutoff` (housekeeping: a
        redelivery after that costs one redundant pass, never a lost change, docs/events.md)."""
        return await self._purge(EVENTS, "seen", "at", cutoff)

    async def _purge(self, table: str, partition: str, field: str, cutoff: datetime) -> int:
        """Delete the rows of one partition whose timestamp `field` lies before `cutoff`, in
        batched writes (in Azure Tables an entity group transaction per 100 deletes, not one
        request each); how many. One read of the partition. A row rewritten between the read
        and its batch's delete goes too: for the echo and dedupe rows purged here that costs
        at most one redundant pass. Rows without a readable timestamp are left alone."""
        batch: list[Write] = []
        purged = 0
        async for e in self.backend.query(table, partition):
            try:
                expired = datetime.fromisoformat(e.data[field]) < cutoff
            except (KeyError, TypeError, ValueError):
                continue
            if expired:
                batch.append(Write(e.row, None))
            if len(batch) == WRITE_LIMIT:
                await self.backend.write(table, partition, batch)
                purged, batch = purged + len(batch), []
        if batch:
            await self.backend.write(table, partition, batch)
        return purged + len(batch)

    # -- echo suppression ------------------------------------------------------------------
    async def note_own_change(self, resource: str, ttl: timedelta = timedelta(minutes=10)) -> None:
        await self.backend.upsert(ECHOES, "own", resource, {"until": (_now() + ttl).isoformat()})

    async def is_own_change(self, resource: str, at: datetime | None = None) -> bool:
        """Whether `resource` was noted as the app's own change whose note had not expired at
        `at` (default: now). The drift processor passes the time the webhook received the
        notification, so a queue that lags behind does not turn late-processed echoes into
        drift (docs/drift.md "Echoes")."""
        found = await self.backend.get(ECHOES, "own", resource)
        return found is not None and datetime.fromisoformat(found.data["until"]) > (at or _now())

    async def note_own_changes(self, resources: Iterable[str], ttl: timedelta = timedelta(minutes=10)) -> int:
        """`note_own_change` for many, in batched writes of one partition (in Azure Tables an
        entity group transaction per 100: a pass adding 20 members notes ~44 keys in one request,
        not 44); duplicates written once. Returns how many."""
        unique = sorted(set(resources))
        until = {"until": (_now() + ttl).isoformat()}
        for start in range(0, len(unique), WRITE_LIMIT):
            part = unique[start : start + WRITE_LIMIT]
            await self.backend.write(ECHOES, "own", [Write(row, dict(until)) for row in part])
        return len(unique)

    async def own_changes(self, resources: Iterable[str]) -> dict[str, datetime]:
        """Which of `resources` are noted as the app's own changes, with when each note expires
        (expired ones included), read in one call (`Backend.get_many`): a batch of notifications
        asks for all its echo keys at once instead of one read after another."""
        found = await self.backend.get_many(ECHOES, "own", list(resources))
        return {row: datetime.fromisoformat(e.data["until"]) for row, e in found.items()}

    async def any_own_change(self, resources: Iterable[str], at: datetime | None = None) -> str | None:
        """The first of `resources` noted as the app's own change (and not expired at `at`,
        default now), else None."""
        for resource in resources:
            if await self.is_own_change(resource, at):
                return resource
        return None

    async def forget_own_changes_before(self, cutoff: datetime) -> int:
        """Delete echo entries that expired before `cutoff` (housekeeping; lookups ignore them).
        A notification is matched against the time it was received, so an entry purged while a
        notification from before its expiry is still queued turns that echo into drift: one
        converged no-op pass (docs/drift.md "Echoes"); hence a cutoff well behind now."""
        return await self._purge(ECHOES, "own", "until", cutoff)

    # -- named values, in partitions owned by the features (task mirroring: shared/mirror/pairs.py) --
    async def put_value(self, partition: str, name: str, data: dict[str, Any]) -> None:
        """Small named values in a feature's partition (task mirroring's pair status and last
        pass, plan of a store, mass-delete hold, poll state: shared/mirror/pairs.py and beside it)."""
        await self.backend.upsert(PAIRS, partition, name, data)

    async def get_value(self, partition: str, name: str) -> dict[str, Any] | None:
        found = await self.backend.get(PAIRS, partition, name)
        return None if found is None else dict(found.data)

    async def list_values(self, partition: str) -> dict[str, dict[str, Any]]:
        """Every named value of a partition (one query), by name."""
        return {e.row: dict(e.data) async for e in self.backend.query(PAIRS, partition)}

    async def delete_value(self, partition: str, name: str) -> None:
        await self.backend.delete(PAIRS, partition, name)

    # -- request counters of the spine's features (shared/spine: RequestQueue) ----------------
    # One row per key in a partition ("sync": teams, "mirror": task pairs): `requested` counts
    # requests, `done` the highest request number a finished pass covered.
    async def count_request(self, partition: str, key: str) -> int:
        number, _ = await self.count_request_checking(partition, key, recheck=None)
        return number

    async def count_request_checking(
        self, partition: str, key: str, recheck: timedelta | None
    ) -> tuple[int, bool]:
        """Count one more request; also say whether the caller must check (and start) the key's
        orchestration: True unless an earlier request is still uncovered (`requested > done`)
        and a caller claimed that check less than `recheck` ago. A True answer records the claim
        (`checked_at`) in the same write, so concurrent requesters check once between them."""
        for _ in range(16):
            found = await self.backend.get(REQUESTS, partition, key)
            data: dict[str, Any] = {"requested": 1, "done": 0} if found is None else dict(found.data)
            now = _now()
            check = True
            if found is not None:
                covered = int(data["requested"]) <= int(data["done"])
                data["requested"] = int(data["requested"]) + 1
                claimed = data.get("checked_at")
                if recheck is not None and not covered and isinstance(claimed, str):
                    try:
                        check = now - datetime.fromisoformat(claimed) >= recheck
                    except ValueError:
                        check = True
            data["at"] = now.isoformat()
            if check:
                data["checked_at"] = now.isoformat()
            try:
                if found is None:
                    await self.backend.insert(REQUESTS, partition, key, data)
                else:
                    await self.backend.upsert(REQUESTS, partition, key, data, if_match=found.etag)
                return int(data["requested"]), check
            except StateConflict:
                continue
        raise StateConflict(f"{partition} requests for {key} kept changing")

    async def requests_counted(self, partition: str, key: str) -> int:
        found = await self.backend.get(REQUESTS, partition, key)
        return 0 if found is None else int(found.data["requested"])

    async def finish_requests(self, partition: str, key: str, covered: int) -> bool:
        for _ in range(16):
            found = await self.backend.get(REQUESTS, partition, key)
            if found is None:
                return False
            data = dict(found.data)
            data["done"] = max(int(data["done"]), covered)
            try:
                await self.backend.upsert(REQUESTS, partition, key, data, if_match=found.etag)
            except StateConflict:
                continue
            return int(data["requested"]) > int(data["done"])
        raise StateConflict(f"{partition} requests for {key} kept changing")

    async def pending_requests(self, partition: str) -> list[str]:
        return [
            e.row
            async for e in self.backend.query(REQUESTS, partition)
            if int(e.data["requested"]) > int(e.data["done"])
        ]

    # -- audit -----------------------------------------------------------------------------
    async def audit(self, kind: str, record: dict[str, Any]) -> None:
        row = _now().strftime("%Y%m%dT%H%M%S.%f") + "-" + uuid.uuid4().hex[:8]
        await self.backend.insert(AUDIT, kind, row, record)

    async def audit_trail(self, kind: str) -> list[dict[str, Any]]:
        return [e.data async for e in self.backend.query(AUDIT, kind)]

    async def close(self) -> None:
        await self.backend.close()

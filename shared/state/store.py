"""Mapping and sync state behind one small API, on either backend (SQLite or Azure Tables).

What it keeps: which team stands for which store/region (and who the app put there), the
result of each store's last sync, processed event ids and control numbers (cheap duplicate
skipping), drift reports, the app's own recent Graph writes (echo suppression for webhooks), and
an audit trail (DLQ replay/purge).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from shared.domain.plan import Problem
from shared.domain.subscriptions import Subscription
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


INDEX_PREFIX = "~"  # index rows of the team partition (after every record key)
INDEX_MARKER = "~~indexed"  # present once every record has its index rows


def _team_row(team_id: str) -> str:
    return f"{INDEX_PREFIX}team:{team_id}"


def _person_row(personnel_number: str, key: str) -> str:
    return f"{INDEX_PREFIX}person:{personnel_number}:{key}"


def _after(prefix: str) -> str:
    """The least string above every string that starts with `prefix` (a range's stop)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _now() -> datetime:
    return datetime.now(UTC)


def new_report_id() -> str:
    return _now().strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


class CachedIdentity(BaseModel):
    user_id: str
    at: datetime
    teams_licensed: bool | None = None


class TeamRecord(BaseModel):
    key: str = Field(description="str(TeamKey), e.g. 'store:0042'")
    team_id: str
    adopted: bool = False
    managed_user_ids: list[str] = Field(default_factory=list)
    managed_personnel: list[str] = Field(default_factory=list, description="Personnel numbers of those users")
    identities: dict[str, CachedIdentity] = Field(
        default_factory=dict,
        description="UPN (lower case) -> Entra user id resolved for this team's people, with when",
    )
    desired_hash: str | None = Field(
        default=None,
        description="shared.sync.nightly.fingerprint of the desired team the last pass converged to "
        "(None: not converged); the nightly reconciliation reads the team only when it moved",
    )
    updated_at: datetime = Field(default_factory=_now)


class SyncRecord(BaseModel):
    key: str
    outcome: str = Field(description="converged | changed | held | blocked | failed")
    at: datetime = Field(default_factory=_now)
    operations: int = 0
    problems: list[Problem] = Field(default_factory=list)
    error: str | None = None
    instance_id: str | None = None


class StateStore:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    # -- team mappings ---------------------------------------------------------------------
    # Partition `mappings/team` holds each team's record (row = its key, e.g. 'store:0042') and
    # the reverse lookups as index rows beside it, written in the same entity group transaction
    # as the record (Azure Tables allows one only within a partition), so a lookup by team id or
    # by person is one row read or one range read, never a scan of every record:
    #   ~team:<team id>            -> {"key": key}
    #   ~person:<personnel>:<key>  -> {"key": key}
    # '~' sorts after every record key, so `list_teams` reads the records only (rows < '~').
    async def get_team(self, key: str) -> TeamRecord | None:
        found = await self.backend.get(MAPPINGS, "team", key)
        return None if found is None else TeamRecord.model_validate(found.data)

    # -- team creation intents: what lets a pass adopt the team a crashed create left -----------
    async def note_team_creation(self, key: str, display_name: str) -> None:
        """Recorded BEFORE the create request: this app is about to create `display_name` for
        `key`. Only a team named so after such an intent is adopted by name (team_pass)."""
        data = {"display_name": display_name, "at": _now().isoformat()}
        await self.backend.upsert(MAPPINGS, "creating", key, data)

    async def team_creation(self, key: str) -> str | None:
        """The display name this app last set out to create for `key`, or None."""
        found = await self.backend.get(MAPPINGS, "creating", key)
        return None if found is None else str(found.data.get("display_name"))

    async def clear_team_creation(self, key: str) -> None:
        await self.backend.delete(MAPPINGS, "creating", key)

    async def put_team(self, record: TeamRecord) -> None:
        """Save a mapping with its index rows (team id, each managed person) in one write.

        A record with more index changes than one transaction takes (100 rows) is written in
        several, index additions first and removals with the record last: an interruption leaves
        the index a superset of the truth (at worst one more team synced), never missing a row."""
        before = await self.get_team(record.key)
        old = set(before.managed_personnel) if before else set()
        new = set(record.managed_personnel)
        writes = [Write(_person_row(p, record.key), {"key": record.key}) for p in sorted(new - old)]
        if before is None or before.team_id != record.team_id:
            writes.append(Write(_team_row(record.team_id), {"key": record.key}))
            if before is not None and await self.team_key_of(before.team_id) == record.key:
                writes.append(Write(_team_row(before.team_id), None))
        writes += [Write(_person_row(p, record.key), None) for p in sorted(old - new)]
        writes.append(Write(record.key, record.model_dump(mode="json")))
        head = len(writes) % WRITE_LIMIT or WRITE_LIMIT
        batches = [writes[i : i + WRITE_LIMIT] for i in range(0, len(writes) - head, WRITE_LIMIT)]
        for batch in [*batches, writes[len(writes) - head :]]:
            await self.backend.write(MAPPINGS, "team", batch)

    async def teams_of_person(self, personnel_number: str) -> list[str]:
        """Keys of the teams the app placed this worker in (to reach old teams after a transfer)."""
        prefix = _person_row(personnel_number, "")
        rows = self.backend.query(MAPPINGS, "team", start=prefix, stop=_after(prefix))
        return [str(e.data["key"]) async for e in rows]

    async def team_key_of(self, team_id: str) -> str | None:
        """Reverse lookup: which key a team stands for (webhooks name teams by id). One row read."""
        found = await self.backend.get(MAPPINGS, "team", _team_row(team_id))
        return None if found is None else str(found.data["key"])

    async def ensure_indexes(self) -> int:
        """Write the index rows of records saved before the indexes existed (state from an older
        version, whose person index lived in a table of its own). One row read when done;
        otherwise one pass over the records, then a marker. Returns how many records it indexed."""
        if await self.backend.get(MAPPINGS, "team", INDEX_MARKER) is not None:
            return 0
        records = await self.list_teams()
        for r in records:
            rows = [Write(_team_row(r.team_id), {"key": r.key})]
            rows += [Write(_person_row(p, r.key), {"key": r.key}) for p in sorted(set(r.managed_personnel))]
            for i in range(0, len(rows), WRITE_LIMIT):
                await self.backend.write(MAPPINGS, "team", rows[i : i + WRITE_LIMIT])
        await self.backend.upsert(MAPPINGS, "team", INDEX_MARKER, {"version": 1, "at": _now().isoformat()})
        return len(records)

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

    async def team_rows(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Every team record as its stored JSON object (key, data), unvalidated: for a bulk pass
        that needs a few fields of each (the nightly choice), without building 10,000
        `TeamRecord`s and their ~200,000 cached identities at once (200 MB at 10,000 stores)."""
        async for e in self.backend.query(MAPPINGS, "team", stop=INDEX_PREFIX):
            yield e.row, e.data

    async def list_teams(self) -> list[TeamRecord]:
        rows = self.backend.query(MAPPINGS, "team", stop=INDEX_PREFIX)
        return [TeamRecord.model_validate(e.data) async for e in rows]

    # -- sync results ----------------------------------------------------------------------
    async def record_sync(self, record: SyncRecord) -> None:
        await self.backend.upsert(SYNCS, "last", record.key, record.model_dump(mode="json"))

    async def get_sync(self, key: str) -> SyncRecord | None:
        found = await self.backend.get(SYNCS, "last", key)
        return None if found is None else SyncRecord.model_validate(found.data)

    async def list_syncs(self) -> list[SyncRecord]:
        return [SyncRecord.model_validate(e.data) async for e in self.backend.query(SYNCS, "last")]

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
        old = [
            e.row
            async for e in self.backend.query(EVENTS, "seen")
            if datetime.fromisoformat(e.data["at"]) < cutoff
        ]
        for row in old:
            await self.backend.delete(EVENTS, "seen", row)
        return len(old)

    # -- drift reports ---------------------------------------------------------------------
    async def save_report(self, summary: dict[str, Any], stores: dict[str, dict[str, Any]]) -> str:
        """Persist a whole reconciliation report at once; returns its id."""
        report_id = new_report_id()
        for store, entry in stores.items():
            await self.put_report_entry(report_id, store, entry)
        await self.finish_report(report_id, summary)
        return report_id

    async def put_report_entry(self, report_id: str, key: str, entry: dict[str, Any]) -> None:
        """One team's part of a report (written by its pass, so reports of 1,000 teams never
        travel through an orchestration's history)."""
        await self.backend.upsert(REPORTS, report_id, f"store:{key}", entry)

    async def finish_report(self, report_id: str, summary: dict[str, Any]) -> None:
        await self.backend.upsert(REPORTS, report_id, "~summary", {**summary, "id": report_id})
        await self.backend.upsert(REPORTS, "latest", "pointer", {"id": report_id})

    async def get_report(self, report_id: str | None = None) -> dict[str, Any] | None:
        if report_id is None:
            pointer = await self.backend.get(REPORTS, "latest", "pointer")
            if pointer is None:
                return None
            report_id = str(pointer.data["id"])
        summary: dict[str, Any] | None = None
        stores: dict[str, Any] = {}
        async for e in self.backend.query(REPORTS, report_id):
            if e.row == "~summary":
                summary = e.data
            else:
                stores[e.row.removeprefix("store:")] = e.data
        return None if summary is None else {**summary, "stores": stores}

    # -- echo suppression ------------------------------------------------------------------
    async def note_own_change(self, resource: str, ttl: timedelta = timedelta(minutes=10)) -> None:
        await self.backend.upsert(ECHOES, "own", resource, {"until": (_now() + ttl).isoformat()})

    async def is_own_change(self, resource: str) -> bool:
        found = await self.backend.get(ECHOES, "own", resource)
        return found is not None and datetime.fromisoformat(found.data["until"]) > _now()

    async def note_own_changes(self, resources: Iterable[str], ttl: timedelta = timedelta(minutes=10)) -> int:
        """`note_own_change` for many (one write each; duplicates written once). Returns how many."""
        unique = sorted(set(resources))
        for resource in unique:
            await self.note_own_change(resource, ttl)
        return len(unique)

    async def any_own_change(self, resources: Iterable[str]) -> str | None:
        """The first of `resources` noted as the app's own change (and not expired), else None."""
        for resource in resources:
            if await self.is_own_change(resource):
                return resource
        return None

    async def forget_own_changes_before(self, cutoff: datetime) -> int:
        """Delete echo entries that expired before `cutoff` (housekeeping; lookups ignore them)."""
        old = [
            e.row
            async for e in self.backend.query(ECHOES, "own")
            if datetime.fromisoformat(e.data["until"]) < cutoff
        ]
        for row in old:
            await self.backend.delete(ECHOES, "own", row)
        return len(old)

    # -- Graph change-notification subscriptions ---------------------------------------------
    async def put_subscription(self, subscription: Subscription) -> None:
        """Remember a subscription the app holds (without its clientState: that is a secret)."""
        data = subscription.model_dump(mode="json", exclude={"client_state"})
        await self.backend.upsert(SUBSCRIPTIONS, "graph", subscription.subscription_id, data)

    async def get_subscription(self, subscription_id: str) -> Subscription | None:
        found = await self.backend.get(SUBSCRIPTIONS, "graph", subscription_id)
        return None if found is None else Subscription.model_validate(found.data)

    async def list_subscriptions(self) -> list[Subscription]:
        return [Subscription.model_validate(e.data) async for e in self.backend.query(SUBSCRIPTIONS, "graph")]

    async def delete_subscription(self, subscription_id: str) -> None:
        await self.backend.delete(SUBSCRIPTIONS, "graph", subscription_id)

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

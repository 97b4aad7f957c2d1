"""Reconciliation: the sync pass over the teams that need it, with a persisted drift report.

The orchestration (functions/provisioning.py `reconcile_all`) fans out `reconcile_team` in
bounded batches; each pass writes its own report entry, so a 1,000-team report never travels
through orchestration history. A dry run computes the same report and writes nothing to Teams
(nor the delta link).

Which teams: the named ones (`keys`); else, with `CTS_RECONCILE__DELTA` (default on), only the
teams that changed since the last round (shared/sync/nightly.py: one `/groups/delta` round and
one bulk Commerce read); a full read of every team on the first run, after an expired delta
token (410), with `full=True`, or with the setting off -- and the report says which and why.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from shared.domain.commerce import CommerceOrg, TeamMapping, Worker
from shared.domain.execution import ExecutionResult
from shared.domain.plan import Plan
from shared.domain.subscriptions import GroupDelta
from shared.domain.teams import Identity, TeamKey, TeamKind
from shared.provisioning import COMMUNICATIONS_KEY, desired
from shared.settings import Settings
from shared.spine import RequestQueue, run_pass
from shared.spine.features import TEAMS
from shared.state import StateStore
from shared.state import teams as team_records
from shared.sync import records as sync_records
from shared.sync.nightly import Choice, Recorded, choose
from shared.sync.team_pass import CommerceReader, PassResult, TeamsGateway, busy_result, sync_team_pass

log = logging.getLogger("cts.sync")


class ReconcileGateway(TeamsGateway, Protocol):
    async def groups_delta(
        self, delta_link: str | None = None, *, group_ids: Iterable[str] | None = None, from_now: bool = False
    ) -> GroupDelta: ...


class SyncPorts(Protocol):
    """What a team pass and the reconciliation need, passed in by the composition root
    (functions/root.py)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def state(self) -> StateStore: ...

    @property
    def commerce(self) -> CommerceReader: ...

    @property
    def gateway(self) -> ReconcileGateway: ...

    async def execute(self, plan: Plan) -> ExecutionResult: ...


async def all_keys(s: SyncPorts) -> list[str]:
    """Every team the app is responsible for: each Commerce store (open or closed), the
    communications and region teams when enabled, and every team it has a mapping for."""
    keys = {str(TeamKey.store(n)) for n in await s.commerce.store_numbers()}
    if s.settings.provisioning.communications_team_enabled:
        keys.add(str(COMMUNICATIONS_KEY))
    if s.settings.provisioning.region_teams_enabled:
        keys.update(str(TeamKey(kind=TeamKind.REGION, id=r)) for r in await s.commerce.region_ids())
    await team_records.ensure_indexes(
        s.state
    )  # state written before the indexes existed (once, then one read)
    keys.update(r.key for r in await team_records.list_teams(s.state))
    return sorted(keys)


DELTA = ("reconcile", "groups-delta")  # state value: the /groups/delta link for the next round


async def begin(
    s: SyncPorts,
    keys: list[str] | None,
    *,
    report_id: str | None = None,
    full: bool = False,
    dry_run: bool = False,
) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "batch_size": s.settings.reconcile.batch_size,
        "parallel_batches": s.settings.reconcile.parallel_batches,
        "schedule": "window",  # batches in a sliding window (functions/provisioning.py, WINDOW)
        "report_id": report_id or sync_records.new_report_id(),
        "started": datetime.now(UTC).isoformat(),
    }
    if keys:
        return {**scope, "keys": sorted(keys), "mode": "keys", "why": "the teams asked for"}
    if not s.settings.reconcile.delta:
        return {**scope, "keys": await all_keys(s), "mode": "full", "why": "CTS_RECONCILE__DELTA is off"}
    saved = await s.state.get_value(*DELTA)
    delta = await s.gateway.groups_delta(str(saved["link"])) if saved else None
    if full or delta is None or delta.resync_required:
        why = (
            "asked for a full reconciliation"
            if full
            else "first run: no delta token yet"
            if delta is None
            else "the delta token expired (410 / syncStateNotFound): full resynchronisation"
        )
        # Changes from now on are next round's; this round reads every team anyway.
        fresh = await s.gateway.groups_delta(from_now=True)
        if fresh.delta_link and not dry_run:
            await s.state.put_value(*DELTA, {"link": fresh.delta_link, "at": scope["started"]})
        return {**scope, "keys": await all_keys(s), "mode": "full", "why": why}
    choice = await _changed_teams(s, delta)
    if delta.delta_link and not dry_run:
        await s.state.put_value(*DELTA, {"link": delta.delta_link, "at": scope["started"]})
    reasons = dict(sorted(choice.read.items())[:200])  # a sample for the report summary
    return {**scope, "keys": sorted(choice.read), "mode": "delta", "unchanged": choice.unchanged,
            "why": f"{len(choice.read)} changed team(s) read in full, {choice.unchanged} unchanged",
            "reasons": reasons}  # fmt: skip


async def _changed_teams(s: SyncPorts, delta: GroupDelta) -> Choice:
    """The nightly choice (shared/sync/nightly.py) from one bulk Commerce read and the records."""
    org = await s.commerce.read_org()
    # The records reduced to what the choice reads (team id, fingerprint) and the identities the
    # passes last resolved (a worker no record knows makes its team's desired state move, so that
    # team is read and its pass looks the worker up) -- never every TeamRecord at once.
    recorded: dict[str, Recorded] = {}
    by_upn: dict[str, str] = {}
    async for data in team_records.team_rows(s.state):
        recorded[str(data["key"])] = Recorded(
            team_id=str(data["team_id"]), desired_hash=data.get("desired_hash")
        )
        for upn, cached in (data.get("identities") or {}).items():
            by_upn[upn] = str(cached["user_id"])
    keys = {str(TeamKey.store(st.number)) for st in org.stores} | set(recorded)
    if s.settings.provisioning.communications_team_enabled:
        keys.add(str(COMMUNICATIONS_KEY))
    if s.settings.provisioning.region_teams_enabled:
        keys.update(str(TeamKey(kind=TeamKind.REGION, id=r.id)) for r in org.regions)
    identities = KnownIdentities(org.workers, by_upn)
    want = desired(org, s.settings.provisioning, identities, datetime.now(UTC).date())
    return choose(keys, want.teams, recorded, delta)


class KnownIdentities(Mapping[str, Identity]):
    """Personnel number -> the Entra user the passes last resolved for that worker's UPN, made on
    lookup (not 200,000 `Identity` objects built up front for a 10,000-store org)."""

    def __init__(self, workers: Iterable[Worker], user_of_upn: Mapping[str, str]) -> None:
        self._upn = {w.personnel_number: w.upn for w in workers if w.upn and w.upn.lower() in user_of_upn}
        self._user_of_upn = user_of_upn

    def __getitem__(self, personnel_number: str) -> Identity:
        upn = self._upn[personnel_number]
        return Identity(user_id=self._user_of_upn[upn.lower()], upn=upn)

    def __iter__(self) -> Iterator[str]:
        return iter(self._upn)

    def __len__(self) -> int:
        return len(self._upn)


async def team_pass(
    s: SyncPorts, label: str, *, dry_run: bool = False, instance_id: str | None
) -> PassResult:
    """The team pass for `label` over the ports (the spine's `run` for TEAMS, and reconciliation's)."""
    return await sync_team_pass(
        TeamKey.parse(label),
        commerce=s.commerce,
        gateway=s.gateway,
        execute=s.execute,
        state=s.state,
        settings=s.settings,
        dry_run=dry_run,
        instance_id=instance_id,
    )


async def reconcile_team(
    s: SyncPorts, key: str, *, report_id: str, dry_run: bool, instance_id: str | None
) -> dict[str, Any]:
    async def run(label: str) -> PassResult:
        return await team_pass(s, label, dry_run=dry_run, instance_id=instance_id)

    # A dry run writes nothing, so it needs no lease; a real pass holds the team's (it may run
    # beside the team's orchestration: a held lease answers "busy" and requests one more pass).
    if dry_run:
        result = await run(key)
    else:
        result = await run_pass(RequestQueue(s.state, TEAMS), key, run, owner=instance_id, busy=busy_result)
    entry = result.to_json()
    await sync_records.put_report_entry(s.state, report_id, key, entry)
    return {
        "key": key,
        "outcome": result.outcome,
        "operations": len(entry["operations"]),
        "problems": len(entry["problems"]),
        "graph_requests": entry["graph_requests"],
    }


class _Prefetched:
    """A CommerceReader whose `read_scope` answers from slices read in bulk just before, once per
    key (a second read of a key, e.g. a pass run again, reads afresh); the rest goes to `reader`."""

    def __init__(self, reader: CommerceReader, slices: Mapping[TeamKey, CommerceOrg]) -> None:
        self._reader = reader
        self._slices = dict(slices)

    async def read_scope(self, key: TeamKey) -> CommerceOrg:
        found = self._slices.pop(key, None)
        return found if found is not None else await self._reader.read_scope(key)

    async def read_scopes(self, keys: Sequence[TeamKey]) -> dict[TeamKey, CommerceOrg]:
        return await self._reader.read_scopes(keys)

    async def read_org(self) -> CommerceOrg:
        return await self._reader.read_org()

    async def store_numbers(self) -> list[str]:
        return await self._reader.store_numbers()

    async def region_ids(self) -> list[str]:
        return await self._reader.region_ids()

    async def stores_of_worker(self, personnel_number: str) -> list[str]:
        return await self._reader.stores_of_worker(personnel_number)

    async def stores_in_region(self, region: str) -> list[str]:
        return await self._reader.stores_in_region(region)

    async def store_of_channel(self, channel: str) -> str | None:
        return await self._reader.store_of_channel(channel)

    async def create_team_mapping(self, mapping: TeamMapping) -> None:
        await self._reader.create_team_mapping(mapping)


@dataclass(frozen=True)
class _BatchPorts:
    """The ports with the batch's Commerce reader."""

    base: SyncPorts
    commerce: CommerceReader

    @property
    def settings(self) -> Settings:
        return self.base.settings

    @property
    def state(self) -> StateStore:
        return self.base.state

    @property
    def gateway(self) -> ReconcileGateway:
        return self.base.gateway

    async def execute(self, plan: Plan) -> ExecutionResult:
        return await self.base.execute(plan)


AGAIN = "again"  # a batch's outcome for a pass that raised: the orchestration runs it on its own


async def reconcile_batch(
    s: SyncPorts, keys: Sequence[str], *, report_id: str, dry_run: bool, instance_id: str
) -> list[dict[str, Any]]:
    """The passes of one fan-out batch, run together in one activity: the stores' Commerce
    slices come from one set of bulk reads made when the batch starts (about 35 requests for 25
    stores where each pass reading its own costs about 9), as fresh as a pass's own read. Each
    pass is otherwise `reconcile_team`'s (lease, report entry); one that raises is answered
    `AGAIN`, for the orchestration to run on its own with retries, and the others stand."""
    parsed = {k: TeamKey.parse(k) for k in keys}
    ports = _BatchPorts(s, _Prefetched(s.commerce, await s.commerce.read_scopes(list(parsed.values()))))

    async def one(key: str) -> dict[str, Any]:
        try:
            return await reconcile_team(
                ports, key, report_id=report_id, dry_run=dry_run, instance_id=f"{instance_id}:{key}"
            )
        except Exception as exc:  # the pass alone is run again (functions/provisioning.py)
            log.warning("reconciliation pass of %s failed in its batch: %s: %s", key, type(exc).__name__, exc)
            return {"key": key, "outcome": AGAIN, "error": f"{type(exc).__name__}: {exc}"[:500]}

    return list(await asyncio.gather(*(one(k) for k in keys)))


async def finish(s: SyncPorts, payload: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "dry_run": payload["dry_run"],
        "started": payload["started"],
        "finished": datetime.now(UTC).isoformat(),
        "teams": payload["teams"],
        "outcomes": payload["outcomes"],
        **{k: payload[k] for k in ("mode", "why", "unchanged", "reasons") if k in payload},
    }
    await sync_records.finish_report(s.state, payload["report_id"], summary)
    return {**summary, "report_id": payload["report_id"]}

"""What a Commerce event causes: the teams whose sync it requests.

An event is a hint naming a scope; this maps the scope to team keys (reading Commerce for the
worker's or region's stores *now*, plus the teams the app placed a worker in before, so a
transfer or termination also reaches the old store) and requests those teams' syncs. Duplicate
events (same event id) and stale ones (a ControlNumber not above the last handled for the scope)
are skipped cheaply — but only recorded as handled after the requests succeeded, so a transient
failure leaves the message retryable instead of lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from shared.domain.events import CommerceHint, HintScope
from shared.domain.teams import TeamKey, TeamKind
from shared.provisioning import COMMUNICATIONS_KEY
from shared.settings import Settings
from shared.spine import OrchestrationClient, RequestQueue, request_many
from shared.spine.features import TEAMS
from shared.state import StateStore
from shared.state import teams as team_records

if TYPE_CHECKING:
    from shared.records.intake import RecordScopeReader


class ScopeReader(Protocol):
    async def stores_of_worker(self, personnel_number: str) -> list[str]: ...

    async def stores_in_region(self, region: str) -> list[str]: ...

    async def store_of_channel(self, channel: str) -> str | None: ...


@dataclass(frozen=True)
class Handled:
    # requested | duplicate | stale | no_teams | tasks_requested | no_tasks | records_requested | no_records
    outcome: str
    keys: tuple[str, ...] = ()
    detail: str = ""


async def keys_for(
    hint: CommerceHint, commerce: ScopeReader, state: StateStore, settings: Settings
) -> list[TeamKey]:
    ids = hint.ids
    stores: set[str] = set()
    extra: set[TeamKey] = set()
    comms = settings.provisioning.communications_team_enabled
    if hint.scope is HintScope.STORE:
        stores.add(ids["store"])
    elif hint.scope is HintScope.ASSIGNMENT:
        store = ids.get("store") or (
            await commerce.store_of_channel(ids["channel"]) if "channel" in ids else None
        )
        if store:
            stores.add(store)
        if "worker" in ids:
            extra.update(TeamKey.parse(k) for k in await team_records.teams_of_person(state, ids["worker"]))
    elif hint.scope is HintScope.WORKER:
        stores.update(await commerce.stores_of_worker(ids["worker"]))
        extra.update(TeamKey.parse(k) for k in await team_records.teams_of_person(state, ids["worker"]))
        if comms:
            extra.add(COMMUNICATIONS_KEY)
    elif hint.scope is HintScope.REGION:
        stores.update(await commerce.stores_in_region(ids["region"]))
        if comms:
            extra.add(COMMUNICATIONS_KEY)
        if settings.provisioning.region_teams_enabled:
            extra.add(TeamKey(kind=TeamKind.REGION, id=ids["region"]))
    return sorted({*(TeamKey.store(s) for s in stores), *extra}, key=str)


class TaskIntake(Protocol):
    """Where task events go (`shared.mirror.request_task_mirrors` in production, passed in by
    functions/commerce_events.py so this package does not import task mirroring)."""

    async def __call__(
        self, hint: CommerceHint, *, commerce: Any, state: StateStore, client: OrchestrationClient
    ) -> list[str]: ...


async def handle_hint(
    hint: CommerceHint,
    *,
    commerce: ScopeReader,
    state: StateStore,
    client: OrchestrationClient,
    settings: Settings,
    tasks: TaskIntake,
    records: RecordScopeReader | None = None,
) -> Handled:
    await state.bump("events_received")
    if await state.event_seen(hint.dedupe_key):
        await state.bump("duplicates_skipped")
        return Handled("duplicate", detail=f"event {hint.event_id} already handled")
    last = await state.last_control_number(hint.scope_key) if hint.control_number is not None else None
    if last is not None and hint.control_number is not None and hint.control_number <= last:
        await state.bump("stale_skipped")
        await state.mark_event(hint.dedupe_key)
        return Handled("stale", detail=f"control number {hint.control_number} <= {last} already handled")
    if hint.scope in (HintScope.ACCOUNT, HintScope.OPPORTUNITY):
        # Dataverse record events go to record-connected channels (one pass per account).
        from shared.records.intake import request_record_passes

        passes = await request_record_passes(hint, records=records, client=client, state=state)
        await state.mark_event(hint.dedupe_key)
        return Handled("records_requested" if passes else "no_records", tuple(passes))
    if hint.scope in (HintScope.TASK_LIST, HintScope.TASK):
        # Task events go to task mirroring (one mirror_task orchestration per task x store).
        pairs = await tasks(hint, commerce=commerce, state=state, client=client)
        if hint.control_number is not None:
            await state.note_control_number(hint.scope_key, hint.control_number)
        await state.mark_event(hint.dedupe_key)
        return Handled("tasks_requested" if pairs else "no_tasks", tuple(pairs))
    keys = await keys_for(hint, commerce, state, settings)
    reason = f"{hint.event_type} {hint.event_id}"
    await request_many(TEAMS, [str(k) for k in keys], client, RequestQueue(state, TEAMS), reason=reason)
    if hint.control_number is not None:
        await state.note_control_number(hint.scope_key, hint.control_number)
    await state.mark_event(hint.dedupe_key)
    return Handled("requested" if keys else "no_teams", tuple(str(k) for k in keys))

"""What a pair's decision needs beyond the two records: the store's plan, time zone and worker <->
Entra user maps, and the task list's name and definition (`MirrorContext`).

The plan is the store team's plan titled `provisioning.plan_title`, created when missing and
remembered in the state store. Store and list context is read from Commerce and reused for
`tasks.context_ttl_seconds` per process (a burst of events for one list reads it once).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from shared.domain.commerce import StoreRole
from shared.domain.plan import Problem
from shared.domain.planner import PlannerPlan
from shared.domain.tasks import TaskList
from shared.domain.teams import TeamKey
from shared.mirror.ports import MirrorCommerce, PlannerGateway
from shared.provisioning.control import WriteGate, closed_for
from shared.settings import Settings
from shared.state import StateStore
from shared.state import teams as team_records
from shared.tasks import MirrorContext


class NoPlan(Exception):
    """The store has no team (yet): nothing can be mirrored; reported, retried by reconciliation."""


class WritesClosed(Exception):
    """The store's plan is not there and the kill switch or an opt-out (docs/control.md) forbids
    creating it: the pass reports `problem` and writes nothing."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.problem = problem


@dataclass(frozen=True)
class StoreContext:
    store: str
    plan_id: str
    time_zone: str | None
    user_of: dict[str, str] = field(default_factory=dict)
    worker_of: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    managers: frozenset[str] = frozenset()  # personnel numbers of the store's managers
    places: tuple[str | None, ...] = ()  # the store's region and district (the region opt-out)


class _Cache:
    def __init__(self) -> None:
        self._items: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> Any:
        found = self._items.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, key: str, value: Any, ttl: float) -> None:
        if ttl > 0:
            self._items[key] = (time.monotonic() + ttl, value)

    def drop(self, key: str) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()


CACHE = _Cache()


PLAN_LEASE_TTL = timedelta(minutes=2)
PLAN_WAIT_SECONDS = 30.0
PLAN_POLL_SECONDS = 0.5


async def plan_of_store(
    store: str,
    state: StateStore,
    gateway: PlannerGateway,
    settings: Settings,
    *,
    closed: Problem | None = None,
) -> str:
    """The store team's task plan (found by title, else created); remembered per store. `closed`:
    why nothing may be written for the store -- a missing plan then raises `WritesClosed`.

    Several passes for one store's tasks run at once (one per task pair), and the first of them
    all find no plan. Planner does not refuse two plans with one title in a group, so creating is
    done under a per-store lease: the holder re-reads and creates, the others wait for the plan id
    it records (or for the lease to expire, and then take it themselves)."""
    team = await team_records.get_team(state, str(TeamKey.store(store)))
    if team is None:
        raise NoPlan(f"store {store} has no team yet; its tasks are mirrored once the team exists")
    known = await _known_plan(state, store, team.team_id)
    if known is not None:
        return known
    title = settings.provisioning.plan_title
    found = _titled(await gateway.list_plans(team.team_id), title)
    if found is None and closed is not None:
        raise WritesClosed(closed)
    if found is not None:
        await state.put_value("plan", store, {"team_id": team.team_id, "plan_id": found})
        return found
    lease, owner = f"plan:{store}", uuid.uuid4().hex
    deadline = time.monotonic() + PLAN_WAIT_SECONDS
    while not await state.acquire_lease(lease, owner, PLAN_LEASE_TTL):
        await asyncio.sleep(PLAN_POLL_SECONDS)
        known = await _known_plan(state, store, team.team_id)
        if known is not None:
            return known
        if time.monotonic() > deadline:
            raise TimeoutError(f"store {store}: another pass is creating its plan; retried later")
    try:
        known = await _known_plan(state, store, team.team_id)
        if known is not None:
            return known
        found = _titled(await gateway.list_plans(team.team_id), title)
        if found is None:
            found = (await gateway.create_plan(team.team_id, title)).plan_id
        await state.put_value("plan", store, {"team_id": team.team_id, "plan_id": found})
        return str(found)
    finally:
        await state.release_lease(lease, owner)


async def _known_plan(state: StateStore, store: str, team_id: str) -> str | None:
    known = await state.get_value("plan", store)
    if known and known.get("team_id") == team_id and known.get("plan_id"):
        return str(known["plan_id"])
    return None


def _titled(plans: list[PlannerPlan], title: str) -> str | None:
    """The plan carrying `title`; of several (made before the lease, or by hand), the same one on
    every read (the smallest id), so every pass mirrors into one plan."""
    ids = sorted(str(p.plan_id) for p in plans if p.title == title)
    return ids[0] if ids else None


async def store_context(
    store: str,
    *,
    commerce: MirrorCommerce,
    state: StateStore,
    gateway: PlannerGateway,
    settings: Settings,
    gate: WriteGate | None = None,
) -> StoreContext:
    """The store's context; with `gate`, a plan that is missing is not created while the gate is
    closed for the store (its number, region or district: `WritesClosed`)."""
    cached = CACHE.get(f"store:{store}")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    from shared.sync.team_pass import resolve_identities

    org = await commerce.read_org(store=store)
    the_store = next((s for s in org.stores if s.number == store), None)
    places = (the_store.region, the_store.district) if the_store else ()
    closed = closed_for(TeamKey.store(store), places, gate) if gate is not None else None
    plan_id = await plan_of_store(store, state, gateway, settings, closed=closed)
    identities = await resolve_identities(org, gateway)
    user_of = {p: i.user_id for p, i in identities.items() if i.user_id}
    ctx = StoreContext(
        store=store,
        plan_id=plan_id,
        time_zone=the_store.time_zone if the_store else None,
        user_of=user_of,
        worker_of={u: p for p, u in user_of.items()},
        names={w.personnel_number: w.name for w in org.workers},
        managers=frozenset(
            a.personnel_number
            for a in org.assignments
            if a.store == store and a.active and a.role is StoreRole.MANAGER
        ),
        places=places,
    )
    CACHE.put(f"store:{store}", ctx, settings.tasks.context_ttl_seconds)
    return ctx


async def task_list(list_id: str, *, commerce: MirrorCommerce, settings: Settings) -> TaskList | None:
    cached = CACHE.get(f"list:{list_id}")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    found: TaskList | None = next(iter(await commerce.task_lists([list_id])), None)
    if found is not None:
        CACHE.put(f"list:{list_id}", found, settings.tasks.context_ttl_seconds)
    return found


def mirror_context(
    store: StoreContext,
    listed: TaskList | None,
    task_id: str,
    settings: Settings,
    *,
    deletions_held: bool = False,
    teams_origin: bool = False,
) -> MirrorContext:
    return MirrorContext(
        plan_id=store.plan_id,
        list_name=listed.name if listed and listed.name else None,
        definition=listed.task(task_id) if listed else None,
        time_zone=store.time_zone,
        user_of=store.user_of,
        worker_of=store.worker_of,
        contact_names=store.names,
        settings=settings.tasks,
        deletions_held=deletions_held,
        teams_origin=teams_origin,
    )

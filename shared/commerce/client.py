"""The Commerce (Finance & Operations) OData client: reads the org and tasks, writes task status.

    async with CommerceClient.from_settings(settings) as commerce:
        org = await commerce.read_org(store="0042")     # one store's slice, not the whole org

Every read goes to `/data/<EntitySet>` with `$filter`/`$select`, `cross-company=true` when the
settings say so, and follows `@odata.nextLink` until the last page. Failures become the typed
errors of `shared.commerce.errors`; 429 (with `Retry-After`) and 5xx are retried with bounded,
jittered backoff first, so what reaches the caller is worth reporting or re-raising.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from datetime import date, datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from shared.commerce.auth import StaticToken, TokenProvider, token_provider
from shared.commerce.batch import CreatePipe, read_pages
from shared.commerce.errors import CommerceUnavailable, NotFound, error_from_response
from shared.commerce.mapping import DEFAULT_MANAGER_JOBS, UNSET, Row, RowMapper, Unset
from shared.commerce.odata import (
    MAX_QUERY_STRING,
    NEXT_LINK_ROOM,
    all_of,
    encoded_length,
    eq,
    key_segment,
    one_of,
    or_chains,
)
from shared.commerce.schema import ENTITY_SETS, STORE_SOURCE_TYPE, FieldNames
from shared.commerce.transport import ODataTransport, Sleep
from shared.domain.commerce import CommerceOrg, Region, Store, StoreAssignment, TeamMapping, Worker
from shared.domain.tasks import StoreTask, TaskList, TaskStatus
from shared.pool import POOL_LIMITS
from shared.settings import CommerceSettings, Settings


class CommerceClient:
    def __init__(
        self,
        settings: CommerceSettings,
        *,
        tokens: TokenProvider | None = None,
        manager_jobs: Sequence[str] = DEFAULT_MANAGER_JOBS,
        communications_role: str = "Retail task manager",
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.sets = settings.entity_sets
        self.fields = FieldNames(settings.field_names)
        self.rows = RowMapper(self.fields, manager_jobs)
        # Every read names its columns (FieldNames.select): each set's `$select`, made once.
        self._columns = {
            getattr(self.sets, setting): self.fields.select(entity) for entity, setting in ENTITY_SETS.items()
        }
        self._communications_role = communications_role
        self._tokens = tokens or token_provider(settings)
        self._http = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/") + "/data/",
            timeout=settings.timeout_seconds,
            transport=transport,
            limits=POOL_LIMITS,  # shared/pool.py
        )
        # GETs are safe to repeat after a dropped connection; a PATCH may have been applied.
        self._transport = ODataTransport(
            self._http,
            self._tokens,
            settings,
            headers={"OData-Version": "4.0", "Accept": "application/json;odata.metadata=minimal"},
            repeatable=frozenset({"GET"}),
            error_from_response=error_from_response,
            unavailable=lambda what, method, url: CommerceUnavailable(
                f"no answer from Commerce: {what}", method=method, url=url
            ),
            sleep=sleep,
            rng=rng or random.Random(),
        )
        # Mapping rows written by concurrent passes share $batch calls (shared/commerce/batch.py).
        self._mapping_creates = CreatePipe(
            self._transport, self._http, size=settings.team_mapping_batch_size, sleep=sleep
        )

    @property
    def retries(self) -> int:
        """Requests repeated after 429/5xx/connection failures."""
        return self._transport.retries

    @classmethod
    def from_settings(cls, settings: Settings, **kw: Any) -> CommerceClient:
        p = settings.provisioning
        return cls(
            settings.commerce, manager_jobs=p.manager_jobs, communications_role=p.communications_role, **kw
        )

    @classmethod
    def for_sandbox(cls, base_url: str, token: str = "sandbox-token", **kw: Any) -> CommerceClient:
        settings = CommerceSettings(base_url=base_url, auth="static_token", static_token=token)
        return cls(settings, tokens=StaticToken(token), **kw)

    async def __aenter__(self) -> CommerceClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._tokens.close()

    # --- HTTP --------------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One request with bounded retries (shared/commerce/transport.py)."""
        return await self._transport.send(method, url, params=params, json=json, headers=headers)

    def _params(
        self, filter_: str | None = None, select: Sequence[str] | None = None, top: int | None = None
    ) -> dict[str, str]:
        params: dict[str, str] = {}
        if filter_:
            params["$filter"] = filter_
        if select:
            params["$select"] = ",".join(select)
        if top is not None:
            params["$top"] = str(top)
        if self.settings.cross_company:
            params["cross-company"] = "true"
        return params

    async def query(
        self,
        entity_set: str,
        filter_: str | None = None,
        *,
        select: Sequence[str] | None = None,
        top: int | None = None,
        convert: Callable[[Row], Any] | None = None,
    ) -> list[Any]:
        """Every row of `entity_set` matching `filter_`, across all pages; with `convert`, each
        converted as its page arrives (None dropped: raw rows are held one page at a time).
        The columns are the ones the app maps (`select`, default FieldNames.select)."""
        params = self._params(filter_, select or self._columns.get(entity_set), top)
        return list(await self._transport.rows(entity_set, params, self.settings.page_size, convert))

    async def query_any(
        self, entity_set: str, field: str, values: Sequence[str], extra: str | None = None
    ) -> list[Row]:
        """Rows whose `field` is one of `values`, in `or` chains that keep each query string
        within MAX_QUERY_STRING (with its `$select`, `extra` and the rest), the rows in the order
        of the chains. Several chains go as the GETs of `$batch` calls of `read_batch_size`
        (shared/commerce/batch.py `read_pages`: a reconciliation batch's ~500 workers are 13
        chains, one call instead of 13 GETs); `read_batch_size` 1 sends a GET per chain.
        `_CHAINS_AT_ONCE` calls (or GETs) in flight at a time."""
        gate = asyncio.Semaphore(_CHAINS_AT_ONCE)
        # What the query string holds beside the chain: `$filter=` with `extra` and its " and ",
        # `$select=...`, `cross-company=true` and the separators, encoded; and room for the
        # `$skip` of the next page's link.
        rest = self._params(all_of("()", extra), self._columns.get(entity_set))
        room = (
            MAX_QUERY_STRING
            - NEXT_LINK_ROOM
            - sum(encoded_length(k) + 1 + encoded_length(v) + 1 for k, v in rest.items())
        )

        filters = [all_of(one_of(field, chunk), extra) for chunk in or_chains(field, values, room)]
        size = self.settings.read_batch_size  # 1: every group is one chain, its plain GET

        async def chain(filter_: str | None) -> list[Row]:
            async with gate:
                return await self.query(entity_set, filter_)

        async def batched(group: list[str | None]) -> list[list[Row]]:
            """One `$batch` call for the group's chains (shared/commerce/batch.py `read_pages`);
            a chain alone is its plain GET."""
            if len(group) == 1:
                return [await chain(group[0])]
            async with gate:
                columns = self._columns.get(entity_set)
                urls = [f"{entity_set}?{urlencode(self._params(f, columns), quote_via=quote)}" for f in group]
                pages = await read_pages(
                    self._transport, str(self._http.base_url), urls, page_size=self.settings.page_size
                )
            out: list[list[Row]] = []
            for filter_, page in zip(group, pages, strict=True):
                if page is None:  # not answered 200: read alone, for the rows or the typed error
                    out.append(await chain(filter_))
                    continue
                out.append(await self._transport.rows(entity_set, None, self.settings.page_size, first=page))
            return out

        groups = [filters[i : i + size] for i in range(0, len(filters), size)]
        parts = [part for got in await asyncio.gather(*(batched(g) for g in groups)) for part in got]
        return [row for part in parts for row in part]

    # --- reads -------------------------------------------------------------------------------

    async def hierarchy(self) -> tuple[list[Region], dict[str, tuple[str | None, str | None]]]:
        """Regions/districts with their managers, and where each store's operating unit sits."""
        nodes, managers = await asyncio.gather(
            self.query(self.sets.hierarchy), self.query(self.sets.hierarchy_managers)
        )
        return self.rows.regions(nodes, managers), self.rows.placement(nodes)

    async def stores(self, numbers: Sequence[str] | None = None) -> list[Store]:
        """Stores (all, or these numbers), placed in the retail reporting hierarchy."""
        rows = await self._store_rows(numbers)
        _, placement = await self.hierarchy()
        return [self.rows.store(r, placement) for r in rows]

    async def _store_rows(self, numbers: Sequence[str] | None) -> list[Row]:
        if numbers is None:
            return await self.query(self.sets.stores)
        return await self.query_any(self.sets.stores, self.fields["store.number"], numbers) if numbers else []

    async def store(self, number: str) -> Store:
        found = await self.stores([number])
        if not found:
            raise NotFound(f"store {number} does not exist in Commerce", status=404)
        return found[0]

    async def workers(self, personnel_numbers: Sequence[str] | None = None) -> list[Worker]:
        f = self.fields["worker.personnel_number"]
        if personnel_numbers is None:
            return await self.query(self.sets.workers, convert=self.rows.worker)
        rows = await self.query_any(self.sets.workers, f, personnel_numbers) if personnel_numbers else []
        return [self.rows.worker(r) for r in rows]

    async def worker(self, personnel_number: str) -> Worker:
        found = await self.workers([personnel_number])
        if not found:
            raise NotFound(f"worker {personnel_number} does not exist in Commerce", status=404)
        return found[0]

    async def assignments(
        self, *, stores: Sequence[Store] | None = None, personnel_number: str | None = None
    ) -> list[StoreAssignment]:
        """RetailChannelWorkerEntity rows (active or not) at these stores and/or of this worker.
        Rows point at a store by RetailChannelId; stores are read to translate when not given."""
        f = self.fields
        person = eq(f["assignment.personnel_number"], personnel_number) if personnel_number else None
        if stores is not None:
            return await self._assignments_at(await self._store_rows([s.number for s in stores]), person)
        else:
            rows = await self.query(self.sets.assignments, person)
            wanted = sorted({str(r.get(f["assignment.channel_id"])) for r in rows})
            store_rows = (
                (
                    await self.query_any(self.sets.stores, f["store.channel_id"], wanted)
                    if personnel_number
                    else await self.query(self.sets.stores)
                )
                if wanted
                else []
            )
            channels = {str(r[f["store.channel_id"]]): str(r[f["store.number"]]) for r in store_rows}
        return [a for r in rows if (a := self.rows.assignment(r, channels)) is not None]

    async def _assignments_at(
        self, store_rows: Sequence[Row], person: str | None = None
    ) -> list[StoreAssignment]:
        f = self.fields
        channels = {str(r[f["store.channel_id"]]): str(r[f["store.number"]]) for r in store_rows}
        rows = (
            await self.query_any(self.sets.assignments, f["assignment.channel_id"], list(channels), person)
            if channels
            else []
        )
        return [a for r in rows if (a := self.rows.assignment(r, channels)) is not None]

    async def communications_managers(self) -> list[str]:
        """Personnel numbers holding the HQ role that makes a communications manager."""
        f = self.fields
        rows = await self.query(self.sets.worker_roles, eq(f["worker_role.role"], self._communications_role))
        return sorted({str(r[f["worker_role.personnel_number"]]) for r in rows})

    async def team_mappings(
        self, *, source_type: str | None = None, source_ids: Sequence[str] | None = None
    ) -> list[TeamMapping]:
        f = self.fields
        kind = eq(f["team_mapping.source_type"], source_type) if source_type else None
        if source_ids is not None:
            rows = await self.query_any(
                self.sets.team_mappings, f["team_mapping.source_id"], source_ids, kind
            )
        else:
            rows = await self.query(self.sets.team_mappings, kind)
        return [m for r in rows if (m := self.rows.team_mapping(r)) is not None]

    async def create_team_mapping(self, mapping: TeamMapping) -> None:
        """Create one "Teams mapping between source and team" row (F&O answers a create with 201;
        a row that exists already is an error, never an upsert: OData create = insert). Creates
        made at about the same time on this client go together in `$batch` calls, each caller
        getting its own row's answer or error (shared/commerce/batch.py); alone, one POST."""
        f = self.fields
        body = {
            f["team_mapping.source_type"]: mapping.source_type.value,
            f["team_mapping.source_id"]: mapping.source_id,
            f["team_mapping.team_id"]: mapping.team_id,
        }
        await self._mapping_creates.create(self.sets.team_mappings, self._params(), body)

    async def read_org(self, *, store: str | None = None, region: str | None = None) -> CommerceOrg:
        """The org at this moment: all of it, one store's slice (the store, its assignments, those
        workers, the region managers above it, its mapping), or one region's slice (the
        hierarchy, its managers and the communications managers). A store that no longer exists
        gives a slice without stores — the caller decides what that means for its team."""
        if store is not None and region is not None:
            raise ValueError("read_org takes store= or region=, not both")
        if store is not None:
            return await self._store_slice(store)
        (regions, placement), comms = await asyncio.gather(self.hierarchy(), self.communications_managers())
        legal_entity = self.settings.legal_entity
        if region is None:
            # One bulk read per entity set: the assignment rows are translated with the store
            # rows read here (assignments() alone would read the stores a second time), page by
            # page as they arrive, so the 200,000 raw rows of a 10,000-store org are never all in
            # memory at once (the host's peak RSS in `make bench`'s 10,000-store case).
            f = self.fields
            store_rows = await self._store_rows(None)
            channels = {str(r[f["store.channel_id"]]): str(r[f["store.number"]]) for r in store_rows}
            stores = [self.rows.store(r, placement) for r in store_rows]
            del store_rows
            workers, assignments, mappings = await asyncio.gather(
                self.workers(),
                self.query(self.sets.assignments, convert=lambda r: self.rows.assignment(r, channels)),
                self.team_mappings(),
            )
            return CommerceOrg(
                legal_entity=legal_entity,
                stores=tuple(stores),
                workers=tuple(workers),
                assignments=tuple(assignments),
                regions=tuple(regions),
                communications_managers=tuple(comms),
                mappings=tuple(mappings),
            )
        people = sorted({m for r in regions for m in r.managers} | set(comms))
        workers = await self.workers(people)
        mappings = await self.team_mappings(source_ids=[region])
        return CommerceOrg(
            legal_entity=legal_entity,
            workers=tuple(workers),
            regions=tuple(regions),
            communications_managers=tuple(comms),
            mappings=tuple(mappings),
        )

    async def _store_slice(self, store: str) -> CommerceOrg:
        """One store's slice: the store, its assignments and those workers, the hierarchy nodes
        above it with their managers, the communications managers, its mapping. Reads a constant
        amount whatever the size of the org (the whole hierarchy is read only by full reads)."""
        return (await self.store_slices([store]))[store]

    async def store_slices(self, stores: Sequence[str]) -> dict[str, CommerceOrg]:
        """The slices of several stores (`read_org(store=...)` for each) from one set of bulk
        reads: the store rows, their assignments and those workers, the hierarchy above them
        (one read per level for all of them) with its managers, the communications managers and
        the mapping rows: for a batch, about 6 + 2 x levels requests and one `$batch` call for the
        workers (a GET per 40 workers with `read_batch_size` 1), where a slice at a time costs
        about 9 requests per store. A store that no longer exists
        gives a slice without stores."""
        f = self.fields
        wanted = list(dict.fromkeys(stores))
        (store_rows, comms), mappings = await asyncio.gather(
            asyncio.gather(self._store_rows(wanted), self.communications_managers()),
            self.team_mappings(source_type=STORE_SOURCE_TYPE, source_ids=wanted) if wanted else _none(),
        )
        row_of: dict[str, Row] = {}
        for row in store_rows:
            row_of.setdefault(str(row[f["store.number"]]), row)
        ou_of = {n: str(r[f["store.operating_unit_number"]]) for n, r in row_of.items()
                 if r.get(f["store.operating_unit_number"])}  # fmt: skip
        (chains, managers), assignments = await asyncio.gather(
            self._hierarchy_chains(sorted(set(ou_of.values()))), self._assignments_at(list(row_of.values()))
        )
        slices: dict[str, tuple[Store, list[Region], list[StoreAssignment], set[str]]] = {}
        for number, row in row_of.items():
            nodes = chains.get(ou_of.get(number, ""), [])
            ou = ou_of.get(number)
            ids = {str(r[f["hierarchy.node"]]) for r in nodes} - {ou}
            regions = self.rows.regions(
                nodes, [m for m in managers if str(m[f["hierarchy_manager.node"]]) in ids]
            )
            the_store = self.rows.store(row, self.rows.placement(nodes))
            here = [a for a in assignments if a.store == number]
            people = {a.personnel_number for a in here} | {
                m for r in _ancestors(the_store, regions) for m in r.managers
            }
            slices[number] = (the_store, regions, here, people)
        everyone = sorted({p for *_, people in slices.values() for p in people})
        workers = await self.workers(everyone) if everyone else []
        out: dict[str, CommerceOrg] = {}
        for number in wanted:
            own = tuple(m for m in mappings if m.source_id == number)
            if number not in slices:
                out[number] = CommerceOrg(
                    legal_entity=self.settings.legal_entity,
                    communications_managers=tuple(comms),
                    mappings=own,
                )
                continue
            the_store, regions, here, people = slices[number]
            out[number] = CommerceOrg(
                legal_entity=the_store.legal_entity,
                stores=(the_store,),
                workers=tuple(w for w in workers if w.personnel_number in people),
                assignments=tuple(here),
                regions=tuple(regions),
                communications_managers=tuple(comms),
                mappings=own,
            )
        return out

    async def _hierarchy_chains(
        self, operating_units: Sequence[str]
    ) -> tuple[dict[str, list[Row]], list[Row]]:
        """For each operating unit, its hierarchy node and the nodes above it (each level read
        once for all of them, at most `_MAX_DEPTH` levels); and the manager rows of every node
        above a store. The chain follows the smallest parent id where a node has several."""
        f = self.fields
        rows_of: dict[str, list[Row]] = {}
        level = sorted(set(operating_units))
        for _ in range(_MAX_DEPTH):
            todo = [n for n in level if n not in rows_of]
            if not todo:
                break
            for row in await self.query_any(self.sets.hierarchy, f["hierarchy.node"], todo):
                rows_of.setdefault(str(row[f["hierarchy.node"]]), []).append(row)
            for n in todo:
                rows_of.setdefault(n, [])
            level = sorted({p for n in todo if (p := _parent(rows_of[n], f["hierarchy.parent"]))})
        chains: dict[str, list[Row]] = {}
        for ou in operating_units:
            nodes: list[Row] = []
            wanted: str | None = ou
            seen: set[str] = set()
            while wanted and wanted not in seen and len(seen) < _MAX_DEPTH:
                seen.add(wanted)
                found = rows_of.get(wanted, [])
                nodes += found
                wanted = _parent(found, f["hierarchy.parent"])
            chains[ou] = nodes
        ids = sorted(
            {str(r[f["hierarchy.node"]]) for nodes in chains.values() for r in nodes} - set(operating_units)
        )
        managers = (
            await self.query_any(self.sets.hierarchy_managers, f["hierarchy_manager.node"], ids)
            if ids
            else []
        )
        return chains, managers

    # --- tasks -------------------------------------------------------------------------------

    async def task_lists(self, ids: Sequence[str] | None = None) -> list[TaskList]:
        f = self.fields
        if ids is None:
            list_rows, task_rows = await asyncio.gather(
                self.query(self.sets.task_lists), self.query(self.sets.tasks)
            )
        else:
            list_rows, task_rows = await asyncio.gather(
                self.query_any(self.sets.task_lists, f["task_list.id"], ids),
                self.query_any(self.sets.tasks, f["task.task_list"], ids),
            )
        tasks = [self.rows.task(r) for r in task_rows]
        return [self.rows.task_list(r, tasks) for r in list_rows]

    async def store_tasks(
        self, *, task_list: str | None = None, task: str | None = None, store: str | None = None
    ) -> list[StoreTask]:
        """Published tasks at stores, with their status and ETag."""
        f = self.fields
        filter_ = all_of(
            eq(f["store_task.task_list"], task_list) if task_list else None,
            eq(f["store_task.task"], task) if task else None,
            eq(f["store_task.store"], store) if store else None,
        )
        return [self.rows.store_task(r) for r in await self.query(self.sets.store_tasks, filter_)]

    async def store_task(
        self, task_list: str, task: str, store: str, legal_entity: str | None = None
    ) -> StoreTask:
        ref = StoreTask(
            task_list=task_list,
            task=task,
            store=store,
            legal_entity=legal_entity or self.settings.legal_entity,
        )
        url = self.sets.store_tasks + key_segment(self.rows.store_task_key(ref))
        response = await self._send(
            "GET", url, params=self._params(select=self._columns[self.sets.store_tasks])
        )
        return self.rows.store_task(response.json())

    async def create_store_task(self, task: StoreTask) -> StoreTask:
        """POST one single-purpose store task (an OData create is an insert: a row with the same
        key is an error, never an upsert; F&O answers 201 with the row). The caller looks the key up
        first (`find_store_task`): that, not this call, is what makes a repeated create harmless."""
        body = self.rows.store_task_create(task)
        response = await self._send("POST", self.sets.store_tasks, params=self._params(), json=body)
        if response.status_code == 201 and response.content:
            return self.rows.store_task(response.json())
        return await self.store_task(task.task_list, task.task, task.store, task.legal_entity)

    async def find_store_task(self, task_list: str, task: str, store: str) -> StoreTask | None:
        """The store task with this key, None when there is none."""
        try:
            return await self.store_task(task_list, task, store)
        except NotFound:
            return None

    async def worker_of_entra_user(self, user_id: str) -> str | None:
        """The personnel number of the worker whose Commerce identity is this Entra object id
        (ExternalIdentityId), None when no worker has it."""
        rows = await self.query(self.sets.workers, eq(self.fields["worker.entra_object_id"], user_id), top=1)
        return str(rows[0][self.fields["worker.personnel_number"]]) if rows else None

    async def update_store_task(
        self,
        task: StoreTask,
        *,
        status: TaskStatus | None = None,
        completed_by: str | Unset | None = UNSET,
        completed_at: datetime | date | Unset | None = UNSET,
        assigned_to: str | Unset | None = UNSET,
        force: bool = False,
    ) -> StoreTask:
        """PATCH one store task guarded by its ETag (`If-Match`); returns the row as now stored.
        A stale ETag raises `PreconditionFailed`: re-read, decide again. `force` sends `If-Match: *`."""
        if not task.etag and not force:
            raise ValueError(f"store task {task.key} has no ETag; read it first or pass force=True")
        body = self.rows.store_task_patch(
            status=status, completed_by=completed_by, completed_at=completed_at, assigned_to=assigned_to
        )
        url = self.sets.store_tasks + key_segment(self.rows.store_task_key(task))
        if_match = "*" if force else str(task.etag)
        response = await self._send(
            "PATCH", url, params=self._params(), json=body, headers={"If-Match": if_match}
        )
        if response.status_code == 200 and response.content:
            return self.rows.store_task(response.json())
        return await self.store_task(task.task_list, task.task, task.store, task.legal_entity)


_MAX_DEPTH = 8  # store -> district -> region -> ...; a cycle or a deeper tree stops here
_CHAINS_AT_ONCE = 4  # `or`-chain reads of one query_any in flight at once


def _parent(rows: Sequence[Row], field: str) -> str | None:
    parents = {str(r[field]) for r in rows if r.get(field)}
    return min(parents) if parents else None


async def _none() -> list[TeamMapping]:
    return []


def _ancestors(store: Store, regions: Sequence[Region]) -> list[Region]:
    by_id = {r.id: r for r in regions}
    out: list[Region] = []
    node = store.district or store.region
    seen: set[str] = set()
    while node and node in by_id and node not in seen:
        seen.add(node)
        out.append(by_id[node])
        node = by_id[node].parent
    return out


__all__ = ["CommerceClient"]

"""Commerce reads shaped for the sync: the slice a team depends on, and scope look-ups.

Implements `shared.sync.team_pass.CommerceReader` over `CommerceClient`, so a store's sync reads
that store's slice (a handful of OData requests), never the whole org.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.commerce.client import CommerceClient
from shared.domain.commerce import CommerceOrg, TeamMapping, TeamSourceType
from shared.domain.tasks import StoreTask
from shared.domain.teams import TeamKey, TeamKind
from shared.settings import Settings


class CommerceScopeReader:
    def __init__(self, client: CommerceClient) -> None:
        self.client = client

    @classmethod
    def from_settings(cls, settings: Settings, **kw: Any) -> CommerceScopeReader:
        return cls(CommerceClient.from_settings(settings, **kw))

    async def aclose(self) -> None:
        await self.client.aclose()

    async def read_scope(self, key: TeamKey) -> CommerceOrg:
        if key.kind is TeamKind.STORE:
            return await self.client.read_org(store=key.id)
        if key.kind is TeamKind.REGION:
            return await self.client.read_org(region=key.id)
        # The communications team: every region manager and communications manager.
        regions, _ = await self.client.hierarchy()
        comms = await self.client.communications_managers()
        people = sorted({m for r in regions for m in r.managers} | set(comms))
        workers = await self.client.workers(people) if people else []
        mappings = await self.client.team_mappings(source_type=TeamSourceType.COMMUNICATIONS.value)
        return CommerceOrg(
            legal_entity=self.client.settings.legal_entity,
            workers=tuple(workers),
            regions=tuple(regions),
            communications_managers=tuple(comms),
            mappings=tuple(mappings),
        )

    async def read_scopes(self, keys: Sequence[TeamKey]) -> dict[TeamKey, CommerceOrg]:
        """The slices of several keys' teams: the stores' from one set of bulk reads
        (`CommerceClient.store_slices`); other keys are left to `read_scope`."""
        stores = [k for k in dict.fromkeys(keys) if k.kind is TeamKind.STORE]
        if not stores:
            return {}
        slices = await self.client.store_slices([k.id for k in stores])
        return {k: slices[k.id] for k in stores}

    async def store_tasks(
        self, *, task_list: str | None = None, task: str | None = None, store: str | None = None
    ) -> list[StoreTask]:
        """The store tasks (task intake reads a list's published copies through the reader)."""
        return await self.client.store_tasks(task_list=task_list, task=task, store=store)

    async def create_team_mapping(self, mapping: TeamMapping) -> None:
        await self.client.create_team_mapping(mapping)

    async def read_org(self) -> CommerceOrg:
        """The whole org in bulk pages (the nightly reconciliation's one Commerce read)."""
        return await self.client.read_org()

    async def store_numbers(self) -> list[str]:
        return sorted(s.number for s in await self.client.stores())

    async def region_ids(self) -> list[str]:
        regions, _ = await self.client.hierarchy()
        return sorted(r.id for r in regions)

    async def stores_of_worker(self, personnel_number: str) -> list[str]:
        assignments = await self.client.assignments(personnel_number=personnel_number)
        return sorted({a.store for a in assignments if a.active})

    async def stores_in_region(self, region: str) -> list[str]:
        return sorted(s.number for s in await self.client.stores() if region in (s.region, s.district))

    async def store_of_channel(self, channel: str) -> str | None:
        fields = self.client.fields
        rows = await self.client.query_any(self.client.sets.stores, fields["store.channel_id"], [channel])
        return str(rows[0][fields["store.number"]]) if rows else None

"""Azure Table Storage backend (production), on `azure-data-tables` (async).

Each entity stores its JSON in string properties `d0..dN`: a Table string property holds at most
64 KiB (https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model),
so larger values are split; an entity holds at most 1 MiB in all.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import unquote

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from shared.state.backend import WRITE_LIMIT, Entity, StateConflict, Write, stored_key

_CHUNK = 30_000  # characters; UTF-16 storage makes this <= 60 KiB per property
_MAX_CHUNKS = 15
_READS_AT_ONCE = 16  # get_many's point reads in flight (a batch of notifications' echo keys)


def _key(value: str) -> str:
    return stored_key(value)


def _encode(data: dict[str, Any]) -> dict[str, str]:
    text = json.dumps(data, separators=(",", ":"))
    chunks = [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [""]
    if len(chunks) > _MAX_CHUNKS:
        raise ValueError(f"state value of {len(text)} characters exceeds the Table entity limit")
    return {f"d{i}": chunk for i, chunk in enumerate(chunks)}


def _decode(raw: dict[str, Any]) -> dict[str, Any]:
    parts = []
    i = 0
    while f"d{i}" in raw:
        parts.append(raw[f"d{i}"])
        i += 1
    result: dict[str, Any] = json.loads("".join(parts))
    return result


def _entity(raw: Any) -> Entity:
    return Entity(unquote(raw["PartitionKey"]), unquote(raw["RowKey"]), _decode(raw), raw.metadata["etag"])


class TableBackend:
    def __init__(self, service: TableServiceClient, prefix: str = "cts") -> None:
        self._service = service
        self._prefix = prefix
        self._tables: dict[str, TableClient] = {}

    @classmethod
    def from_connection_string(cls, conn: str, prefix: str = "cts") -> TableBackend:
        return cls(TableServiceClient.from_connection_string(conn), prefix)

    @classmethod
    def from_endpoint(cls, endpoint: str, credential: Any, prefix: str = "cts") -> TableBackend:
        return cls(TableServiceClient(endpoint=endpoint, credential=credential), prefix)

    async def _table(self, name: str) -> TableClient:
        client = self._tables.get(name)
        if client is None:
            table_name = f"{self._prefix}{name}".replace("_", "")
            await self._service.create_table_if_not_exists(table_name)
            client = self._service.get_table_client(table_name)
            self._tables[name] = client
        return client

    async def get(self, table: str, partition: str, row: str) -> Entity | None:
        client = await self._table(table)
        try:
            return _entity(await client.get_entity(_key(partition), _key(row)))
        except ResourceNotFoundError:
            return None

    async def get_many(self, table: str, partition: str, rows: Sequence[str]) -> dict[str, Entity]:
        """Point reads, `_READS_AT_ONCE` in flight: Azure Tables has no read of several keys, and a
        filter naming several RowKeys is served as a scan of the partition, not as point reads
        (https://learn.microsoft.com/azure/storage/tables/table-storage-design-for-query)."""
        wanted = list(dict.fromkeys(rows))
        gate = asyncio.Semaphore(_READS_AT_ONCE)

        async def one(row: str) -> Entity | None:
            async with gate:
                return await self.get(table, partition, row)

        found = await asyncio.gather(*(one(row) for row in wanted))
        return {row: e for row, e in zip(wanted, found, strict=True) if e is not None}

    async def insert(self, table: str, partition: str, row: str, data: dict[str, Any]) -> Entity:
        client = await self._table(table)
        try:
            meta = await client.create_entity(
                {"PartitionKey": _key(partition), "RowKey": _key(row), **_encode(data)}
            )
        except ResourceExistsError:
            raise StateConflict(f"{table}/{partition}/{row} already exists") from None
        return Entity(partition, row, data, meta["etag"])

    async def upsert(
        self, table: str, partition: str, row: str, data: dict[str, Any], *, if_match: str | None = None
    ) -> Entity:
        client = await self._table(table)
        entity = {"PartitionKey": _key(partition), "RowKey": _key(row), **_encode(data)}
        try:
            if if_match is None:
                meta = await client.upsert_entity(entity, mode=UpdateMode.REPLACE)
            else:
                meta = await client.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=if_match,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceModifiedError, ResourceNotFoundError):
            raise StateConflict(f"{table}/{partition}/{row} changed since it was read") from None
        return Entity(partition, row, data, meta["etag"])

    async def delete(self, table: str, partition: str, row: str) -> None:
        client = await self._table(table)
        await client.delete_entity(_key(partition), _key(row))

    async def write(self, table: str, partition: str, writes: Sequence[Write]) -> None:
        """One entity group transaction (https://learn.microsoft.com/rest/api/storageservices/
        performing-entity-group-transactions: one partition, at most 100 operations, all or
        nothing). A delete of an absent entity fails the whole transaction with 404, so on a
        404 the absent rows are dropped from the deletes and the transaction is sent again."""
        if len(writes) > WRITE_LIMIT:
            raise ValueError(f"{len(writes)} writes in one batch (at most {WRITE_LIMIT})")
        client = await self._table(table)
        pk = _key(partition)
        pending = list({w.row: w for w in writes}.values())  # a transaction names each row once
        for attempt in range(2):
            ops: list[Any] = [
                ("delete", {"PartitionKey": pk, "RowKey": _key(w.row)})
                if w.data is None
                else (
                    "upsert",
                    {"PartitionKey": pk, "RowKey": _key(w.row), **_encode(w.data)},
                    {"mode": UpdateMode.REPLACE},
                )
                for w in pending
            ]
            if not ops:
                return
            try:
                await client.submit_transaction(ops)
                return
            except TableTransactionError as exc:
                if exc.status_code != 404 or attempt:
                    raise
            absent = {
                w.row for w in pending if w.data is None and await self.get(table, partition, w.row) is None
            }
            pending = [w for w in pending if w.row not in absent]

    async def query(
        self, table: str, partition: str | None = None, *, start: str | None = None, stop: str | None = None
    ) -> AsyncIterator[Entity]:
        client = await self._table(table)
        clauses, params = [], {}
        if partition is not None:
            clauses.append("PartitionKey eq @pk")
            params["pk"] = _key(partition)
        if start is not None:
            clauses.append("RowKey ge @lo")
            params["lo"] = _key(start)
        if stop is not None:
            clauses.append("RowKey lt @hi")
            params["hi"] = _key(stop)
        if clauses:
            pages = client.query_entities(" and ".join(clauses), parameters=params)
        else:
            pages = client.list_entities()
        async for raw in pages:
            yield _entity(raw)

    async def close(self) -> None:
        for client in self._tables.values():
            await client.close()
        await self._service.close()

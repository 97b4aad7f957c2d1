"""The small storage contract both state backends implement: JSON entities by (partition, row).

Shaped after Azure Table Storage (partition key + row key, ETag concurrency, insert that fails on
conflict) so that the SQLite default and the production Table backend behave the same; both pass
`tests/contract/state/`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol


class StateConflict(Exception):
    """An insert found the entity already there, or an ETag no longer matched."""


@dataclass(frozen=True)
class Entity:
    partition: str
    row: str
    data: dict[str, Any]
    etag: str


class Backend(Protocol):
    async def get(self, table: str, partition: str, row: str) -> Entity | None: ...

    async def insert(self, table: str, partition: str, row: str, data: dict[str, Any]) -> Entity:
        """Create; raise StateConflict if the entity exists (atomic: used for dedupe)."""
        ...

    async def upsert(
        self, table: str, partition: str, row: str, data: dict[str, Any], *, if_match: str | None = None
    ) -> Entity:
        """Replace (or create when if_match is None); raise StateConflict on an ETag mismatch."""
        ...

    async def delete(self, table: str, partition: str, row: str) -> None: ...

    def query(self, table: str, partition: str | None = None) -> AsyncIterator[Entity]:
        """Every entity of a partition (or of the table), in row-key order within a partition."""
        ...

    async def close(self) -> None: ...

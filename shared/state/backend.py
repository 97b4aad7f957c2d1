"""The small storage contract both state backends implement: JSON entities by (partition, row).

Shaped after Azure Table Storage (partition key + row key, ETag concurrency, insert that fails on
conflict) so that the SQLite default and the production Table backend behave the same; both pass
`tests/contract/state/`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
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


@dataclass(frozen=True)
class Write:
    """One row of a `Backend.write` batch: `data` replaces the row, or `None` deletes it (a row
    already absent is not an error)."""

    row: str
    data: dict[str, Any] | None


WRITE_LIMIT = 100  # operations per Azure Tables entity group transaction


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

    async def write(self, table: str, partition: str, writes: Sequence[Write]) -> None:
        """Upsert/delete rows of ONE partition all-or-nothing (SQLite: one transaction; Azure
        Tables: one entity group transaction, hence one partition and at most `WRITE_LIMIT`)."""
        ...

    def query(
        self, table: str, partition: str | None = None, *, start: str | None = None, stop: str | None = None
    ) -> AsyncIterator[Entity]:
        """Every entity of a partition (or of the table), in row-key order within a partition;
        with `start`/`stop`, only rows with start <= row < stop: one range read, not a scan. (Azure
        keys are stored percent-encoded character by character, which keeps prefix ranges exact
        as long as the stop's last character is one that needs no encoding, e.g. ':' -> ';'.)"""
        ...

    async def close(self) -> None: ...

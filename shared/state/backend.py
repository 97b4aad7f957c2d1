"""The small storage contract both state backends implement: JSON entities by (partition, row).

Shaped after Azure Table Storage (partition key + row key, ETag concurrency, insert that fails on
conflict) so that the SQLite default and the production Table backend behave the same; both pass
`tests/contract/state/`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

MAX_KEY_BYTES = 1024
"""Azure Table PartitionKey and RowKey: "up to 1 KiB in size"
(https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model).
Checked on the key as stored (percent-encoded, shared/state/table.py) by every backend, so the
embedded SQLite backend refuses what Table Storage would."""


class InvalidKey(ValueError):
    """A state key no backend can store: not valid Unicode text, or over 1 KiB as stored."""


KEY_SAFE = " :.-_@()+,;=!$&'*~"  # besides ASCII letters and digits: kept as they are
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9" + re.escape(KEY_SAFE) + r"]+")


def _percent(run: re.Match[str]) -> str:
    return "".join([f"%{b:02X}" for b in run.group().encode("utf-8")])


def stored_key(value: str) -> str:
    """The key as Table Storage stores it: '/', '\\', '#', '?' and control characters are not
    allowed in PartitionKey/RowKey, so everything outside a safe set is percent-encoded (UTF-8),
    as `urllib.parse.quote(value, safe=KEY_SAFE)` encodes it -- by runs of unsafe characters
    rather than byte by byte: half the time for a typical key, and every state read and write
    encodes its keys (tests/unit/test_state_keys.py holds the two equal).
    Raises InvalidKey for a lone surrogate or a key over `MAX_KEY_BYTES`."""
    try:
        encoded = _UNSAFE_RUN.sub(_percent, value)
    except UnicodeEncodeError:
        raise InvalidKey("a state key must be valid Unicode text (lone surrogate)") from None
    if len(encoded.encode("utf-16-le")) > MAX_KEY_BYTES:  # Table strings are UTF-16
        raise InvalidKey(f"a state key is over {MAX_KEY_BYTES} bytes as stored")
    return encoded


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

    async def get_many(self, table: str, partition: str, rows: Sequence[str]) -> dict[str, Entity]:
        """`get` of each of `rows` (one partition; a repeated row is read once), in one call: the
        entities that exist, by row (SQLite: one query; Azure Tables: point reads in flight
        together, since a filter naming several row keys is a partition scan and the point read
        is its cheapest lookup)."""
        ...

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

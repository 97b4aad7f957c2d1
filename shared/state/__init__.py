"""Mapping and sync state: `StateStore` over SQLite (default) or Azure Table Storage."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.state.backend import Backend, Entity, StateConflict
from shared.state.store import StateStore
from shared.state.teams import CachedIdentity, TeamRecord

if TYPE_CHECKING:
    from shared.settings import StateSettings

__all__ = [
    "Backend",
    "CachedIdentity",
    "Entity",
    "StateConflict",
    "StateStore",
    "TeamRecord",
    "open_state",
]


def open_state(settings: StateSettings) -> StateStore:
    """The configured store: SQLite file locally, Azure Tables (managed identity) in production."""
    if settings.backend == "sqlite":
        from shared.state.sqlite import SqliteBackend

        return StateStore(SqliteBackend(settings.sqlite_path))
    if settings.backend == "table":
        from shared.state.table import TableBackend

        if settings.table_endpoint.startswith(("DefaultEndpointsProtocol=", "UseDevelopmentStorage")):
            return StateStore(
                TableBackend.from_connection_string(settings.table_endpoint, settings.table_prefix)
            )
        from azure.identity.aio import DefaultAzureCredential

        return StateStore(
            TableBackend.from_endpoint(
                settings.table_endpoint, DefaultAzureCredential(), settings.table_prefix
            )
        )
    raise ValueError(f"CTS_STATE__BACKEND must be 'sqlite' or 'table', not {settings.backend!r}")

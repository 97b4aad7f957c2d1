"""Fixtures shared by the unit tests: an empty state store on the embedded SQLite backend (a
module that needs records in it defines its own `state`, which takes precedence)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.state import StateStore
from shared.state.sqlite import SqliteBackend


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[StateStore]:
    s = StateStore(SqliteBackend(tmp_path / "state.sqlite"))
    yield s
    await s.close()

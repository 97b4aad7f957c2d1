"""The mirror glue tests' state: a real SQLite state store with store 0042's team mapped, and the
process-wide store-context cache cleared around each test (fake plan ids must not leak)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.mirror import CACHE
from shared.state import StateStore, TeamRecord
from shared.state import teams as team_records
from shared.state.sqlite import SqliteBackend


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[StateStore]:
    CACHE.clear()
    s = StateStore(SqliteBackend(tmp_path / "state.sqlite"))
    await team_records.put_team(s, TeamRecord(key="store:0042", team_id="team-42"))
    yield s
    await s.close()
    CACHE.clear()

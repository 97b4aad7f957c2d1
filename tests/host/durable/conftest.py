from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from local.host.durable import DurableEngine, DurableRegistry
from tests.host.durable.apps import orchestrations


@pytest.fixture
def registry() -> DurableRegistry:
    return DurableRegistry.from_app(orchestrations.app)


@pytest.fixture(autouse=True)
def _reset_app_state() -> None:
    orchestrations.CALLS.clear()
    orchestrations.GATE.set()


@pytest.fixture
async def engine(tmp_path: Path, registry: DurableRegistry) -> AsyncIterator[DurableEngine]:
    engine = DurableEngine(tmp_path / "durable.sqlite", registry)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()

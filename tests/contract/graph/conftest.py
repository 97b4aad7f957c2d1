"""Fixtures: one Graph sandbox per test module, reached over HTTP by the real gateway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.graph import Gateway, PollPolicy
from shared.settings import GraphSettings

SCALE = 0.02  # the sandbox's time scale: its throttling windows are 0.02 of Graph's


def pytest_configure(config: pytest.Config) -> None:
    # msgraph-sdk's generated request builders warn about their own deprecated config classes.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:msgraph.*")
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:kiota_abstractions.*")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from local.graph.testing import running_graph_sandbox

    db = Path(tmp_path_factory.mktemp("graph")) / "graph.sqlite"
    with running_graph_sandbox(db, scale=SCALE, async_delay=0.2) as graph:
        yield graph


@pytest.fixture(scope="module")
def people(sandbox: Any) -> list[dict[str, Any]]:
    """460 seeded users: p0 is a store manager, the rest workers."""
    users = [
        {"userPrincipalName": f"p{i}@contoso.com", "displayName": f"Person {i}", "employeeId": f"{i:06d}"}
        for i in range(460)
    ]
    return sandbox.seed_users(users)


def make_gateway(sandbox: Any, team_creates_per_second: float) -> Gateway:
    """The real gateway on `sandbox`, with the contract tests' retry budget and quick polls."""
    settings = GraphSettings(
        base_url=sandbox.base_url,
        auth="static_token",
        static_token=sandbox.token,
        max_retries=8,
        max_retry_wait_seconds=20,
        team_creates_per_second=team_creates_per_second,
    )
    return Gateway(
        settings,
        poll=PollPolicy(
            first_delay=0.1, interval=0.1, timeout=30, replication_delay=0.3, replication_attempts=6
        ),
    )


@pytest.fixture
def gateway(sandbox: Any) -> Gateway:
    return make_gateway(sandbox, GraphSettings().team_creates_per_second / SCALE)  # as the stack does


def route_counts(counters: dict[str, Any]) -> dict[str, int]:
    """{"METHOD /template": total requests} from the sandbox's counters."""
    return {
        route: sum(int(n) for n in by_status.values()) for route, by_status in counters["requests"].items()
    }

"""A burst of requests for one key asks Durable for the orchestration's status once per
`STATUS_RECHECK`, not once per request (each drift batch is one request per team), and a
request after that interval checks again, so a Failed orchestration is restarted by the next
request as before. Durable's instance table is a small model (as in the state machine test)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.spine import Feature, RequestQueue, request
from shared.spine.requests import STATUS_RECHECK
from shared.state import StateStore
from shared.state import store as store_module
from shared.state.sqlite import SqliteBackend

PROBE = Feature(name="probe", partition="probe", orchestrator="probe_orch", instance_prefix="probe")


class Durable:
    def __init__(self) -> None:
        self.status: dict[str, str] = {}
        self.status_queries = 0
        self.starts = 0

    async def runtime_status(self, instance_id: str) -> str | None:
        self.status_queries += 1
        return self.status.get(instance_id)

    async def start_new(self, orchestrator: str, instance_id: str, input: Any) -> None:
        self.starts += 1
        self.status[instance_id] = "Running"

    async def last_updated(self, instance_id: str) -> datetime | None:
        return None


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    now = [datetime(2026, 12, 2, 12, 0, tzinfo=UTC)]
    monkeypatch.setattr(store_module, "_now", lambda: now[0])
    return now


def test_a_burst_of_requests_while_a_pass_is_due_queries_durable_once(clock: list[datetime]) -> None:
    async def run() -> tuple[list[str], Durable, int]:
        store = StateStore(SqliteBackend(":memory:"))
        queue, durable = RequestQueue(store, PROBE), Durable()
        outcomes = [
            await request(PROBE, "k1", durable, queue, reason="drift", recheck=STATUS_RECHECK)
            for _ in range(200)
        ]
        return outcomes, durable, await queue.seen("k1")

    outcomes, durable, counted = asyncio.run(run())
    assert outcomes[0] == "started" and set(outcomes[1:]) == {"pending"}
    assert durable.starts == 1
    assert durable.status_queries == 1  # the first request's; the other 199 rode on it
    assert counted == 200  # every request still counted: the finishing pass sees them


def test_a_request_after_the_recheck_interval_restarts_a_failed_orchestration(clock: list[datetime]) -> None:
    async def run() -> tuple[str, str, Durable]:
        store = StateStore(SqliteBackend(":memory:"))
        queue, durable = RequestQueue(store, PROBE), Durable()
        await request(PROBE, "k1", durable, queue, reason="drift", recheck=STATUS_RECHECK)
        durable.status[PROBE.instance_id("k1")] = "Failed"  # its requests stay uncovered
        soon = await request(PROBE, "k1", durable, queue, reason="drift", recheck=STATUS_RECHECK)
        clock[0] += STATUS_RECHECK + timedelta(seconds=1)
        later = await request(PROBE, "k1", durable, queue, reason="drift", recheck=STATUS_RECHECK)
        return soon, later, durable

    soon, later, durable = asyncio.run(run())
    assert soon == "pending"  # inside the interval: the earlier request's check stands
    assert later == "started" and durable.starts == 2


def test_a_request_after_every_earlier_one_is_covered_checks_at_once(clock: list[datetime]) -> None:
    async def run() -> tuple[str, Durable]:
        store = StateStore(SqliteBackend(":memory:"))
        queue, durable = RequestQueue(store, PROBE), Durable()
        await request(PROBE, "k1", durable, queue, reason="drift", recheck=STATUS_RECHECK)
        await queue.finish("k1", await queue.seen("k1"))  # the pass covered it and ended
        durable.status[PROBE.instance_id("k1")] = "Completed"
        return await request(PROBE, "k1", durable, queue, reason="drift", recheck=STATUS_RECHECK), durable

    outcome, durable = asyncio.run(run())
    assert outcome == "started" and durable.status_queries == 2


def test_without_recheck_a_request_restarts_a_failed_orchestration_at_once(clock: list[datetime]) -> None:
    """Task, Commerce and records requests always check: a pass that failed a moment ago (e.g.
    under throttling) is restarted by the next request, not left to the sweeper's back-off."""

    async def run() -> tuple[str, Durable]:
        store = StateStore(SqliteBackend(":memory:"))
        queue, durable = RequestQueue(store, PROBE), Durable()
        await request(PROBE, "k1", durable, queue, reason="task changed")
        durable.status[PROBE.instance_id("k1")] = "Failed"  # its requests stay uncovered
        return await request(PROBE, "k1", durable, queue, reason="task changed"), durable

    outcome, durable = asyncio.run(run())
    assert outcome == "started" and durable.starts == 2

"""Bench case `drift_batch_reads`: what one batch of change notifications costs the state store.

The drift processor's `process_batch` (shared/drift/processing.py) over 100 queue messages of 10
notifications, every one an echo of the app's own member adds to 50 teams (what a provisioning
run gets back from Graph), on each backend: SQLite, and Azure Tables on Azurite
(local/azurite.py). Reports, best of 3 runs of the same batch: wall time, the process's CPU, the
backend calls and the rows read (a `get_many` of N rows is N point reads in Azure Tables)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TEAMS, USERS, MESSAGES, PER_MESSAGE = 50, 20, 100, 10
SUB = "7f2d5a8e-3c1b-4e6f-9a0d-2b4c6e8f0a1c"


class _NoOrchestrations:
    """Every notification is an echo: the processor starts nothing."""

    async def runtime_status(self, instance_id: str) -> str | None:
        return None

    async def start_new(self, orchestrator: str, instance_id: str, input: Any) -> None:
        raise AssertionError("an echo started an orchestration")

    async def last_updated(self, instance_id: str) -> datetime | None:
        return None


def _bodies() -> list[bytes]:
    from shared.drift.webhook import MESSAGE_SCHEMA

    out = []
    for m in range(MESSAGES):
        items = []
        for k in range(PER_MESSAGE):
            n = m * PER_MESSAGE + k
            team, user = f"team-{(n // USERS) % TEAMS}", f"user-{(n // USERS) % TEAMS}-{n % USERS}"
            membership = base64.b64encode(f"0#{team}##{user}".encode()).decode()
            items.append({"subscriptionId": SUB, "changeType": "created",
                          "resource": f"teams('{team}')/members('{membership}')"})  # fmt: skip
        out.append(
            json.dumps({"schema": MESSAGE_SCHEMA, "endpoint": "notifications", "value": items}).encode()
        )
    return out


async def _measure(backend: Any) -> dict[str, Any]:
    from shared.domain.subscriptions import Subscription
    from shared.drift import subscription_records
    from shared.drift.processing import DriftProcessor
    from shared.state import StateStore, TeamRecord
    from shared.state import teams as team_records

    state = StateStore(backend)
    for i in range(TEAMS):
        await team_records.put_team(state, TeamRecord(key=f"store:{i:04d}", team_id=f"team-{i}"))
        keys = [f"team:team-{i}/user:user-{i}-{j}/{c}" for j in range(USERS) for c in ("created", "updated")]
        await state.note_own_changes(keys, timedelta(minutes=30))
    await subscription_records.put_subscription(
        state,
        Subscription(
            subscription_id=SUB,
            resource="/teams/getAllMembers",
            change_type="created,updated,deleted",
            notification_url="https://app.example/api/graph/notifications",
            expiration=datetime.now(UTC) + timedelta(days=1),
        ),
    )
    calls = {"get": 0, "get_many": 0, "rows_read": 0}
    get, get_many = backend.get, backend.get_many
    inside = [False]  # Azure Tables' get_many is point reads through get: counted once, there

    async def counted_get(*args: Any, **kwargs: Any) -> Any:
        if not inside[0]:
            calls["get"] += 1
            calls["rows_read"] += 1
        return await get(*args, **kwargs)

    async def counted_get_many(table: str, partition: str, rows: Any) -> Any:
        calls["get_many"] += 1
        calls["rows_read"] += len(set(rows))
        inside[0] = True
        try:
            return await get_many(table, partition, rows)
        finally:
            inside[0] = False

    backend.get, backend.get_many = counted_get, counted_get_many
    bodies = _bodies()
    runs = []
    try:
        for _ in range(3):
            for k in calls:
                calls[k] = 0
            wall, cpu = time.perf_counter(), time.process_time()
            results = await DriftProcessor(state, _NoOrchestrations()).process_batch(bodies)
            runs.append((time.perf_counter() - wall, time.process_time() - cpu, dict(calls)))
            echoes = sum(1 for r in results if isinstance(r, list) for o in r if o.what == "echo")
            assert echoes == MESSAGES * PER_MESSAGE, f"{echoes} echoes"
    finally:
        await state.close()
    wall, cpu, counted = min(runs, key=lambda r: r[0])
    return {"wall_ms": round(wall * 1000, 1), "cpu_ms": round(cpu * 1000, 1), **counted}


def drift_batch_reads() -> dict[str, Any]:
    from local.azurite import AzuriteMissing, running_azurite_tables
    from shared.state.sqlite import SqliteBackend
    from shared.state.table import TableBackend

    out: dict[str, Any] = {"notifications": MESSAGES * PER_MESSAGE, "messages": MESSAGES, "teams": TEAMS}
    data = Path(tempfile.mkdtemp(prefix="cts-drift-"))
    for key, value in asyncio.run(_measure(SqliteBackend(data / "state.sqlite"))).items():
        out[f"sqlite_{key}"] = value
    try:
        with running_azurite_tables() as connection:
            backend = TableBackend.from_connection_string(connection, prefix="b" + os.urandom(4).hex())
            for key, value in asyncio.run(_measure(backend)).items():
                out[f"azurite_{key}"] = value
    except AzuriteMissing as exc:
        out["azurite"] = str(exc)
    return out

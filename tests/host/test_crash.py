"""The crash test: SIGKILL the host at random points of a batch, restart it on the same data.

Afterwards every order's orchestration has completed exactly once in effect (one row per part,
one "done" row, the right output) and no Service Bus message was lost (none left, none dead).
"""

import asyncio
import json
import random
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from shared.bus.protocol import OutgoingMessage
from tests.host.process import HostProcess, free_port

APP = Path(__file__).parent / "apps" / "crash_app.py"
ORDERS = 40
PARTS = 4
KILLS = 22

pytestmark = [pytest.mark.slow]


async def _send(bus_db: Path, orders: list[int]) -> None:
    from local.host.broker import Broker

    async with Broker(bus_db) as broker:
        await broker.ensure_queue("orders", lock_duration=timedelta(seconds=1))
        await broker.send(
            "orders",
            [
                OutgoingMessage(body=json.dumps({"id": i, "parts": PARTS}).encode(), message_id=f"order-{i}")
                for i in orders
            ],
        )


async def _counts(bus_db: Path) -> dict[str, int]:
    from local.host.broker import Broker

    async with Broker(bus_db) as broker:
        return await broker.counts("orders")


def _status(host: HostProcess) -> dict[str, dict]:
    ids = ",".join(f"order-{i}" for i in range(ORDERS))
    return httpx.get(f"{host.base_url}/api/status", params={"ids": ids}, timeout=10).json()


def test_orchestrations_complete_exactly_once_and_no_message_is_lost_across_kills(tmp_path: Path) -> None:
    rng = random.Random()
    data = tmp_path / "data"
    results = tmp_path / "results.sqlite"
    # WAL is the file's own setting: made once here, before any activity opens it. (Each activity
    # switching it itself raced: switching needs the file to itself, and SQLite can answer
    # "database is locked" to it at once rather than wait out the busy timeout.)
    with sqlite3.connect(results) as db:
        db.execute("PRAGMA journal_mode=WAL")
    host = HostProcess(
        APP,
        data,
        free_port(),
        {"CRASH_RESULTS_DB": str(results)},
        extra_args=["--bus-lock-seconds", "1", "--no-local-settings"],
    )
    waves = [list(range(i, min(i + 2, ORDERS))) for i in range(0, ORDERS, 2)]  # sent while the host runs
    started = time.monotonic()
    kills = 0
    try:
        for _kill in range(KILLS):
            host.start()
            if waves:
                asyncio.run(_send(data / "servicebus.sqlite", waves.pop(0)))
            time.sleep(rng.uniform(0.05, 1.2))
            host.kill()
            kills += 1
        for wave in waves:
            asyncio.run(_send(data / "servicebus.sqlite", wave))
        host.start()
        deadline = time.monotonic() + 60
        while True:
            report = _status(host)
            if all(r["status"] == "Completed" for r in report.values()) and len(report) == ORDERS:
                break
            assert time.monotonic() < deadline, f"not all completed: {report}"
            time.sleep(0.5)
    finally:
        host.kill()

    assert kills >= 20
    for i in range(ORDERS):
        assert report[f"order-{i}"]["output"] == sum(i * 100 + p for p in range(PARTS))
    with sqlite3.connect(results) as db:
        parts = db.execute("SELECT order_id, COUNT(*) FROM parts GROUP BY order_id").fetchall()
        done = dict(db.execute("SELECT order_id, total FROM done").fetchall())
        attempts = db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
    assert sorted(parts) == [(i, PARTS) for i in range(ORDERS)]
    assert done == {i: sum(i * 100 + p for p in range(PARTS)) for i in range(ORDERS)}
    counts = asyncio.run(_counts(data / "servicebus.sqlite"))
    assert counts["active"] == 0 and counts["dead_letter"] == 0, counts
    print(
        f"{kills} kills, {attempts} activity runs for {ORDERS * PARTS} parts, "
        f"{time.monotonic() - started:.0f} s"
    )

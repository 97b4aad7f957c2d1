"""Stopping the engine mid-run and starting another on the same file loses nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from local.host.durable import DurableEngine, DurableRegistry
from tests.host.durable.apps.orchestrations import CALLS, GATE


async def _until(predicate, limit: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + limit
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_every_instance_completes_after_a_restart_mid_run(
    tmp_path: Path, registry: DurableRegistry
) -> None:
    db = tmp_path / "durable.sqlite"
    GATE.clear()  # activities start, then hang until the gate opens
    first = DurableEngine(db, registry, max_concurrent_activities=4)
    await first.start()
    fan = [await first.start_new("fan_out", f"fan-{i}", {"count": 5}) for i in range(3)]
    steps = await first.start_new("two_steps", "steps")
    waiting = await first.start_new("with_status", "waiting")
    timer = await first.start_new("approval", "timer", {"timeout_ms": 300})
    await _until(lambda: sum(CALLS.values()) >= 4)
    await _until(lambda: (first.status_of("waiting") or {}).get("customStatus") is not None)
    await first.stop()

    GATE.set()
    second = DurableEngine(db, registry)
    await second.start()
    try:
        await second.raise_event(waiting, "Go", {"after": "restart"})
        for instance_id in fan:
            status = await second.wait_for_completion(instance_id, timeout=20)
            assert status["output"] == {"squares": [0, 1, 4, 9, 16], "total": 30}
        assert (await second.wait_for_completion(steps, timeout=20))["output"] == 102
        assert (await second.wait_for_completion(waiting, timeout=20))["output"] == {"after": "restart"}
        assert (await second.wait_for_completion(timer, timeout=20))["output"] == {
            "approved": None,
            "timed_out": True,
        }
    finally:
        await second.stop()
    # at least once: every square ran, interrupted ones possibly twice
    assert all(CALLS[f"square:{n}"] >= 3 for n in range(5))


async def test_history_is_not_doubled_by_a_restart(tmp_path: Path, registry: DurableRegistry) -> None:
    db = tmp_path / "durable.sqlite"
    engine = DurableEngine(db, registry)
    await engine.start()
    instance_id = await engine.start_new("fan_out", input={"count": 3})
    await engine.wait_for_completion(instance_id)
    await engine.stop()
    engine = DurableEngine(db, registry)
    await engine.start()
    try:
        await asyncio.sleep(0.2)
        status = await engine.get_status(instance_id, show_history=True)
    finally:
        await engine.stop()
    assert status is not None
    kinds = [e["EventType"] for e in status["historyEvents"]]
    assert kinds.count("TaskCompleted") == 4
    assert kinds.count("ExecutionCompleted") == 1

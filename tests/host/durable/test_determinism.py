"""The determinism guard: replay that disagrees with history fails the instance clearly."""

from __future__ import annotations

import asyncio

from local.host.durable import DurableEngine
from tests.host.durable.apps.orchestrations import CALLS, GATE, VARIANT


async def test_changed_orchestrator_code_fails_with_a_clear_message(engine: DurableEngine) -> None:
    GATE.clear()
    try:
        instance_id = await engine.start_new("changing")
        for _ in range(500):
            if CALLS["slow_step"]:
                break
            await asyncio.sleep(0.01)
        VARIANT["first"] = "double"  # the code now schedules another activity at position 0
        GATE.set()
        status = await engine.wait_for_completion(instance_id, timeout=10)
    finally:
        VARIANT["first"] = "slow_step"
        GATE.set()
    assert status["runtimeStatus"] == "Failed"
    assert (
        "non-deterministic orchestrator: expected activity 'slow_step' at position 0, got activity 'double'"
        in status["output"]
    )
    history = (await engine.get_status(instance_id, show_history=True))["historyEvents"]  # type: ignore[index]
    assert [e["EventType"] for e in history].count("TaskScheduled") == 0  # shown merged into completions
    assert [e["EventType"] for e in history][-1] == "ExecutionCompleted"

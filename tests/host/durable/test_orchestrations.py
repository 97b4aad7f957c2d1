"""Orchestrations of a test app run through the engine on the real durable SDK."""

from __future__ import annotations

from local.host.durable import DurableEngine
from tests.host.durable.apps.orchestrations import CALLS


async def test_fan_out_results_come_back_in_call_order(engine: DurableEngine) -> None:
    instance_id = await engine.start_new("fan_out", input={"count": 8})
    status = await engine.wait_for_completion(instance_id, timeout=20)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == {"squares": [n * n for n in range(8)], "total": sum(n * n for n in range(8))}
    assert all(CALLS[f"square:{n}"] == 1 for n in range(8))

"""Orchestrations of a test app run through the engine on the real durable SDK."""

from __future__ import annotations

import asyncio

import pytest

from local.host.durable import (
    DurableEngine,
    InstanceAlreadyRunning,
    InstanceNotTerminal,
    OrchestratorNotFound,
)
from tests.host.durable.apps.orchestrations import CALLS


async def test_fan_out_results_come_back_in_call_order(engine: DurableEngine) -> None:
    instance_id = await engine.start_new("fan_out", input={"count": 8})
    status = await engine.wait_for_completion(instance_id, timeout=20)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == {"squares": [n * n for n in range(8)], "total": sum(n * n for n in range(8))}
    assert all(CALLS[f"square:{n}"] == 1 for n in range(8))


async def test_activity_retried_until_it_succeeds(engine: DurableEngine) -> None:
    spec = {"key": "a", "failures": 2, "attempts": 3}
    instance_id = await engine.start_new("flaky_with_retry", input=spec)
    status = await engine.wait_for_completion(instance_id, timeout=20)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == "ok after 3 attempts"
    assert CALLS["flaky:a"] == 3


async def test_retries_exhausted_fail_the_orchestration_with_the_activity_error(
    engine: DurableEngine,
) -> None:
    spec = {"key": "b", "failures": 5, "attempts": 2}
    instance_id = await engine.start_new("flaky_with_retry", input=spec)
    status = await engine.wait_for_completion(instance_id, timeout=20)
    assert status["runtimeStatus"] == "Failed"
    assert "transient failure 2" in status["output"]
    assert status["output"].startswith("Orchestrator function 'flaky_with_retry' failed:")
    assert CALLS["flaky:b"] == 2


async def test_external_event_beats_the_timer(engine: DurableEngine) -> None:
    instance_id = await engine.start_new("approval", input={"timeout_ms": 5000})
    await asyncio.sleep(0.1)
    await engine.raise_event(instance_id, "Approval", {"by": "manager"})
    status = await engine.wait_for_completion(instance_id, timeout=10)
    assert status["output"] == {"approved": {"by": "manager"}}
    assert engine.store.next_due(0) is None  # the cancelled timer is gone


async def test_timer_beats_a_missing_event(engine: DurableEngine) -> None:
    instance_id = await engine.start_new("approval", input={"timeout_ms": 200})
    status = await engine.wait_for_completion(instance_id, timeout=10)
    assert status["output"] == {"approved": None, "timed_out": True}
    history = (await engine.get_status(instance_id, show_history=True))["historyEvents"]  # type: ignore[index]
    assert [e["EventType"] for e in history if e["EventType"] == "TimerFired"] == ["TimerFired"]


async def test_event_raised_before_the_orchestrator_waits_is_kept(engine: DurableEngine) -> None:
    instance_id = await engine.start_new("with_status", input=None)
    await engine.raise_event(instance_id, "Go", [1, 2])
    status = await engine.wait_for_completion(instance_id, timeout=10)
    assert status["output"] == [1, 2]


async def test_sub_orchestrations_succeed_and_failures_reach_the_parent(engine: DurableEngine) -> None:
    instance_id = await engine.start_new("parent", "the-parent", [1, -2, 3])
    status = await engine.wait_for_completion(instance_id, timeout=20)
    assert status["runtimeStatus"] == "Completed", status
    ok1, failed, ok3 = status["output"]
    assert (ok1, ok3) == (2, 6)
    assert failed.startswith("failed: Orchestrator function 'child' failed: negative item -2")
    children = await engine.list_instances(instance_id_prefix="the-parent:")
    assert sorted(c["runtimeStatus"] for c in children) == ["Completed", "Completed", "Failed"]


async def test_sub_orchestration_with_explicit_instance_id(engine: DurableEngine) -> None:
    instance_id = await engine.start_new("strict_parent", input=21)
    status = await engine.wait_for_completion(instance_id, timeout=10)
    assert status["output"] == 42
    assert (await engine.get_status("strict-child"))["output"] == 42  # type: ignore[index]


async def test_continue_as_new_counts_to_n_with_fresh_history(engine: DurableEngine) -> None:
    instance_id = await engine.start_new("counter", "counter", {"value": 0, "round": 0, "until": 5})
    status = await engine.wait_for_completion(instance_id, timeout=20)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"value": 32, "round": 5, "until": 5}
    assert status["customStatus"] == {"round": 5}
    history = (await engine.get_status(instance_id, show_history=True))["historyEvents"]  # type: ignore[index]
    assert [e["EventType"] for e in history].count("TaskCompleted") == 1  # only the last execution


async def test_orchestrator_exception_fails_the_instance(engine: DurableEngine) -> None:
    instance_id = await engine.start_new("broken")
    status = await engine.wait_for_completion(instance_id, timeout=10)
    assert status["runtimeStatus"] == "Failed"
    assert "the orchestrator gave up" in status["output"]


async def test_custom_status_is_visible_while_running(engine: DurableEngine) -> None:
    instance_id = await engine.start_new("with_status")
    for _ in range(200):
        status = await engine.get_status(instance_id)
        if status and status["customStatus"]:
            break
        await asyncio.sleep(0.01)
    assert status is not None and status["runtimeStatus"] == "Running"
    assert status["customStatus"] == {"stage": "waiting"}
    await engine.raise_event(instance_id, "Go", "now")
    done = await engine.wait_for_completion(instance_id)
    assert done["customStatus"] == {"stage": "done", "data": "now"}


async def test_running_instance_id_is_a_singleton(engine: DurableEngine) -> None:
    await engine.start_new("with_status", "single")
    with pytest.raises(InstanceAlreadyRunning, match=r"status (Pending|Running) already exists"):
        await engine.start_new("with_status", "single")
    await engine.raise_event("single", "Go", 1)
    await engine.wait_for_completion("single")
    await engine.start_new("with_status", "single")  # a finished instance is replaced
    status = await engine.get_status("single")
    assert status is not None and status["runtimeStatus"] in ("Pending", "Running")
    await engine.terminate("single", "enough")
    terminated = await engine.wait_for_completion("single")
    assert terminated["runtimeStatus"] == "Terminated" and terminated["output"] == "enough"


async def test_unknown_orchestrator_is_refused(engine: DurableEngine) -> None:
    with pytest.raises(OrchestratorNotFound, match="'nope' doesn't exist"):
        await engine.start_new("nope")


async def test_purge_deletes_finished_instances_only(engine: DurableEngine) -> None:
    running = await engine.start_new("with_status")
    with pytest.raises(InstanceNotTerminal):
        await engine.purge(running)
    done = await engine.start_new("fan_out", input={"count": 1})
    await engine.wait_for_completion(done)
    assert await engine.purge(done) == 1
    assert await engine.get_status(done) is None
    assert await engine.purge(done) == 0


async def test_retries_inside_a_fan_out_keep_results_in_call_order(engine: DurableEngine) -> None:
    instance_id = await engine.start_new("flaky_fan", input=["x", "y", "z"])
    status = await engine.wait_for_completion(instance_id, timeout=20)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == ["ok after 1 attempts", "ok after 2 attempts", "ok after 3 attempts"]


async def test_continue_as_new_carries_events_not_yet_taken(engine: DurableEngine) -> None:
    instance_id = await engine.start_new("listener", input=[])
    for tick in (1, 2, 3):
        await engine.raise_event(instance_id, "tick", tick)
    status = await engine.wait_for_completion(instance_id, timeout=10)
    assert status["output"] == [1, 2, 3]

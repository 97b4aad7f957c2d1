"""The app's `reconcile_all` on the real durable SDK through the local engine: one activity per
batch, the passes a batch could not run re-run alone, every team counted once, bounded history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from local.host.durable import DurableEngine, DurableRegistry
from local.host.durable.history import EventType
from tests.host.durable.apps import reconcile_app


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[DurableEngine]:
    reconcile_app.CALLS.clear()
    reconcile_app.FAIL_IN_BATCH.clear()
    reconcile_app.FINISHED.clear()
    reconcile_app.PARALLEL.clear()
    reconcile_app.WINDOW.clear()
    reconcile_app.SLOW.clear()
    reconcile_app.SPANS.clear()
    reconcile_app.IN_FLIGHT[:] = [0, 0]
    engine = DurableEngine(tmp_path / "durable.sqlite", DurableRegistry.from_app(reconcile_app.app))
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


async def _reconcile(engine: DurableEngine, teams: int, failing: set[str]) -> tuple[str, dict[str, Any]]:
    """reconcile_all over `teams` keys, `failing` answering `again` in their batch; (instance
    id, the summary reconcile_finish got), after checking every team was counted once."""
    keys = [f"store:{i:04d}" for i in range(1, teams + 1)]
    reconcile_app.FAIL_IN_BATCH.update(failing)
    instance_id = await engine.start_new("reconcile_all", input={"keys": keys})
    status = await engine.wait_for_completion(instance_id, timeout=30)
    assert status["runtimeStatus"] == "Completed", status
    calls = reconcile_app.CALLS
    assert calls["batch_keys"] == teams
    assert {k: v for k, v in calls.items() if k.startswith("alone:")} == {f"alone:{k}": 1 for k in failing}
    [finished] = reconcile_app.FINISHED
    assert finished["teams"] == teams and finished["outcomes"] == {"changed": teams}  # each team once
    return instance_id, finished


async def test_a_batch_is_one_activity_and_what_it_could_not_run_runs_alone(engine: DurableEngine) -> None:
    # a scope without parallel_batches (written before the setting): one batch at a time
    await _reconcile(engine, 20, {"store:0002", "store:0017"})  # batches of 3: 7 batches, 2 generations
    assert reconcile_app.CALLS["batches"] == 7
    assert reconcile_app.IN_FLIGHT[1] == 1


def _batches_scheduled(engine: DurableEngine, instance_id: str) -> int:
    """reconcile_batch activities in the instance's current generation's history."""
    history = engine.store.history(instance_id)
    return sum(
        1
        for e in history
        if e["EventType"] == EventType.TASK_SCHEDULED and e.get("Name") == "reconcile_batch"
    )


@pytest.mark.parametrize("parallel", [2, 3, 5])
async def test_a_window_of_batches_counts_every_team_once_reruns_what_a_batch_could_not_and_stays_bounded(
    engine: DurableEngine, parallel: int
) -> None:
    reconcile_app.PARALLEL.append(parallel)
    reconcile_app.WINDOW.append(True)
    # 41 batches of 3: more than one generation (4 x parallel batches each) for every parallel here
    failing = {"store:0005", "store:0061", "store:0123"}
    instance_id, _ = await _reconcile(engine, 123, failing)
    assert reconcile_app.CALLS["batches"] == 41
    assert reconcile_app.IN_FLIGHT[1] == parallel  # the window is full, never fuller
    assert 0 < _batches_scheduled(engine, instance_id) <= 4 * parallel  # a generation's history is bounded


async def test_a_slow_batch_holds_one_slot_of_the_window_not_the_others(engine: DurableEngine) -> None:
    reconcile_app.PARALLEL.append(2)
    reconcile_app.WINDOW.append(True)
    reconcile_app.SLOW.add("store:0001")  # the first batch takes 0.5 s, the others 0.05 s
    await _reconcile(engine, 24, set())  # 8 batches of 3, one generation
    spans = {first: (start, end) for first, start, end in reconcile_app.SPANS}
    slow_start, slow_end = spans["store:0001"]
    # While the slow batch ran, the other slot went on: batches began there after another had
    # ended, and ended before the slow one. In rounds (task_all) the slot would have waited.
    beside = [
        k for k, (start, end) in spans.items() if k != "store:0001" and slow_start < start and end < slow_end
    ]
    assert len(beside) >= 3, reconcile_app.SPANS


async def test_in_rounds_a_slow_batch_holds_its_round(engine: DurableEngine) -> None:
    # the contrast: a scope from before the window (parallel_batches, no schedule) runs in rounds
    reconcile_app.PARALLEL.append(2)
    reconcile_app.SLOW.add("store:0001")
    await _reconcile(engine, 24, set())
    spans = {first: (start, end) for first, start, end in reconcile_app.SPANS}
    slow_start, slow_end = spans["store:0001"]
    assert not [k for k, (start, _) in spans.items() if slow_start < start < slow_end and k != "store:0004"]


@pytest.mark.parametrize("parallel", [2, 3, 5])
async def test_batches_in_flight_at_once_count_every_team_once_and_keep_history_bounded(
    engine: DurableEngine, parallel: int
) -> None:
    # a scope written before the window: rounds of `parallel` batches
    reconcile_app.PARALLEL.append(parallel)
    instance_id, _ = await _reconcile(engine, 23, {"store:0005", "store:0023"})  # 8 batches of 3
    assert reconcile_app.CALLS["batches"] == 8
    assert reconcile_app.IN_FLIGHT[1] == parallel  # they ran together, never more
    # one generation holds at most max(4, parallel) batches: the last one's history is small
    assert 0 < _batches_scheduled(engine, instance_id) <= max(4, parallel)

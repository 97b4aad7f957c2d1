"""Test-only durable app: one orchestrator per engine behaviour the tests check.

Activities record their calls in ``CALLS`` (process-global, reset by the tests) so tests can
check at-least-once and retry counts; ``GATE`` lets a test hold activities mid-run.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from datetime import timedelta

import azure.durable_functions as df

app = df.DFApp()

CALLS: Counter[str] = Counter()
GATE = threading.Event()
GATE.set()


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    count = context.get_input()["count"]
    results = yield context.task_all([context.call_activity("square", n) for n in range(count)])
    total = yield context.call_activity("add_up", results)
    return {"squares": results, "total": total}


@app.activity_trigger(input_name="n")
def square(n: int) -> int:
    CALLS[f"square:{n}"] += 1
    GATE.wait(30)
    time.sleep(0.01 * ((7 * n) % 5))  # finish out of call order
    return n * n


@app.activity_trigger(input_name="values")
async def add_up(values: list[int]) -> int:
    await asyncio.sleep(0)
    return sum(values)


@app.orchestration_trigger(context_name="context")
def flaky_with_retry(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    spec = context.get_input()
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=spec["attempts"])
    result = yield context.call_activity_with_retry("flaky", retry, spec)
    return result


@app.activity_trigger(input_name="spec")
def flaky(spec: dict) -> str:
    key = f"flaky:{spec['key']}"
    CALLS[key] += 1
    if CALLS[key] <= spec["failures"]:
        raise RuntimeError(f"transient failure {CALLS[key]}")
    return f"ok after {CALLS[key]} attempts"


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    timeout = context.get_input()["timeout_ms"]
    deadline = context.current_utc_datetime + timedelta(milliseconds=timeout)
    timer = context.create_timer(deadline)
    answer = context.wait_for_external_event("Approval")
    winner = yield context.task_any([answer, timer])
    if winner == answer:
        timer.cancel()
        return {"approved": answer.result}
    return {"approved": None, "timed_out": True}


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    items = context.get_input()
    results = []
    for item in items:
        try:
            value = yield context.call_sub_orchestrator("child", item)
            results.append(value)
        except Exception as exc:
            results.append(f"failed: {exc}")
    return results


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    item = context.get_input()
    if item < 0:
        raise ValueError(f"negative item {item}")
    doubled = yield context.call_activity("double", item)
    return doubled


@app.orchestration_trigger(context_name="context")
def strict_parent(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    value = yield context.call_sub_orchestrator("child", context.get_input(), instance_id="strict-child")
    return value


@app.activity_trigger(input_name="n")
def double(n: int) -> int:
    return 2 * n


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    state = context.get_input()
    value = yield context.call_activity("double", state["value"] or 1)
    state = {"value": value, "round": state["round"] + 1, "until": state["until"]}
    context.set_custom_status({"round": state["round"]})
    if state["round"] >= state["until"]:
        return state
    context.continue_as_new(state)
    return None


@app.orchestration_trigger(context_name="context")
def broken(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    yield context.call_activity("double", 1)
    raise KeyError("the orchestrator gave up")


@app.orchestration_trigger(context_name="context")
def with_status(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    context.set_custom_status({"stage": "waiting"})
    data = yield context.wait_for_external_event("Go")
    context.set_custom_status({"stage": "done", "data": data})
    return data


@app.orchestration_trigger(context_name="context")
def two_steps(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    first = yield context.call_activity("double", 1)
    second = yield context.call_activity("slow_step", first)
    return second


@app.activity_trigger(input_name="n")
def slow_step(n: int) -> int:
    CALLS["slow_step"] += 1
    GATE.wait(30)
    return n + 100


VARIANT = {"first": "slow_step"}


@app.orchestration_trigger(context_name="context")
def changing(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    first = yield context.call_activity(VARIANT["first"], 1)  # deliberately non-deterministic
    return first


@app.orchestration_trigger(context_name="context")
def flaky_fan(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=30, max_number_of_attempts=3)
    keys = context.get_input()
    tasks = [
        context.call_activity_with_retry("flaky", retry, {"key": key, "failures": i, "attempts": 3})
        for i, key in enumerate(keys)
    ]
    results = yield context.task_all(tasks)
    return results


@app.orchestration_trigger(context_name="context")
def listener(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    seen = context.get_input()
    value = yield context.wait_for_external_event("tick")
    seen = [*seen, value]
    if len(seen) >= 3:
        return seen
    context.continue_as_new(seen)
    return None

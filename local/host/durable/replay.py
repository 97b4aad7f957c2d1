"""One orchestrator episode: replay the history through the real SDK, decide what is new.

The worker invokes ``Orchestrator.create(fn)``'s ``handle``, which does three things
(azure/durable_functions/orchestrator.py): ``DurableOrchestrationContext.from_json(body)``,
set ``_input_expected_type``, ``Orchestrator(fn).handle(ctx)`` → state JSON. We do the same
three steps with a context subclass that also records the sequence number the SDK gives each
task (``_add_to_open_tasks``; models/DurableOrchestrationContext.py). Those numbers are what the
extension learns by replaying the action list through DTFx, and what the SDK matches
``TaskScheduledId``/``TimerId`` against — so the history we write agrees with the SDK even for
``call_activity_with_retry``, whose retry timers and re-attempts take numbers as failures are
replayed (models/Task.py, ``RetryAbleTask.try_set_value``).

Nothing here does I/O: `run_episode` is a pure function of (orchestrator, history) → `Decision`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from azure.durable_functions.models.DurableOrchestrationContext import DurableOrchestrationContext
from azure.durable_functions.models.Task import AtomicTask, CompoundTask, TaskBase, TaskState
from azure.durable_functions.orchestrator import Orchestrator as SdkOrchestrator

from local.host.durable.history import SCHEDULING, EventType, event, fmt, kind_label
from local.host.durable.registry import Orchestrator

# ReplaySchema.V3 (models/ReplaySchema.py). Like the DTS and MSSQL backends we send no
# maximumShortTimerDuration, so create_timer makes plain timers (no long-timer splitting);
# otherwise V3 behaves as V2: every episode returns the whole action list so far.
UPPER_SCHEMA_VERSION = 2
_OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"  # TaskOrchestrationExecutor.get_orchestrator_state_str

# actionType numbers (models/actions/ActionType.py)
_CALL_ACTIVITY, _CALL_ACTIVITY_RETRY, _CALL_SUB, _CALL_SUB_RETRY = 0, 1, 2, 3
_CONTINUE_AS_NEW, _CREATE_TIMER, _CALL_ENTITY, _CALL_HTTP, _SIGNAL_ENTITY = 4, 5, 7, 8, 9
_UNSUPPORTED = {
    _CALL_ENTITY: "durable entities (call_entity)",
    _SIGNAL_ENTITY: "durable entities (signal_entity)",
    _CALL_HTTP: "durable HTTP (call_http)",
}


@dataclass
class Decision:
    """What an episode decided."""

    outcome: str  # "running" | "completed" | "failed" | "continued"
    output: Any = None  # completed: the orchestrator's return value (JSON value)
    error: str | None = None  # failed: the message (SDK's ``error``, or the guard's)
    custom_status: Any = None
    continue_input: str | None = None  # continued: the new input (JSON text)
    new_events: list[dict[str, Any]] = field(default_factory=list)  # scheduling events to append
    cancelled_timers: list[int] = field(default_factory=list)
    consumed_events: dict[str, int] = field(default_factory=dict)  # external events taken, by name


class _RecordingContext(DurableOrchestrationContext):  # type: ignore[misc]
    """The SDK's context, noting each task's sequence number as the SDK assigns it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.numbered: dict[int, AtomicTask] = {}
        self.waits: dict[int, AtomicTask] = {}

    def _add_to_open_tasks(self, task: TaskBase) -> None:
        leaves = list(_leaves(task))
        fresh = [t for t in leaves if t.id is None and not t._is_scheduled]
        super()._add_to_open_tasks(task)
        for leaf in fresh:
            if isinstance(leaf.id, int):
                self.numbered[leaf.id] = leaf
        for leaf in leaves:
            if _action_json(leaf).get("actionType") == 6:  # WaitForExternalEvent
                self.waits[id(leaf)] = leaf


def _leaves(task: TaskBase) -> Any:
    if isinstance(task, CompoundTask):
        for child in task.children:
            yield from _leaves(child)
    else:
        yield task


def _action_json(task: TaskBase) -> dict[str, Any]:
    action = task.action_repr
    if isinstance(action, list):
        action = action[0] if action else None
    if action is None or type(action).__name__ == "NoOpAction":
        return {}
    try:
        return dict(action.to_json())
    except Exception:
        return {}


def context_json(
    instance_id: str, history: list[dict[str, Any]], input_value: Any, parent_instance_id: str | None
) -> str:
    """The orchestration trigger payload (``DurableOrchestrationContext.__init__`` arguments)."""
    return json.dumps(
        {
            "history": history,
            "instanceId": instance_id,
            "isReplaying": any(e["IsPlayed"] for e in history),
            "parentInstanceId": parent_instance_id,
            "input": input_value,
            "upperSchemaVersion": UPPER_SCHEMA_VERSION,
        }
    )


def run_episode(
    orchestrator: Orchestrator,
    instance_id: str,
    history: list[dict[str, Any]],
    input_value: Any,
    parent_instance_id: str | None,
    now: datetime,
) -> Decision:
    """Replay ``history`` (old events ``IsPlayed``, this episode's new ones not) and decide."""
    body = context_json(instance_id, history, input_value, parent_instance_id)
    ctx = _RecordingContext.from_json(body)
    ctx._input_expected_type = orchestrator.input_type
    error: str | None = None
    try:
        state = json.loads(SdkOrchestrator(orchestrator.user_function).handle(ctx))
    except Exception as exc:  # the orchestrator threw: the SDK appends its state to the message
        message = str(exc)
        if _OUT_OF_PROC_MARKER in message:
            head, data = message.split(_OUT_OF_PROC_MARKER, 1)
            state = json.loads(data)
            error = state.get("error") or head
        else:
            state, error = {}, message or type(exc).__name__
    actions = list(_flatten(state.get("actions") or []))
    custom_status = state.get("customStatus")

    guard = _check_and_schedule(ctx, history, actions, now, strict=error is None)
    if isinstance(guard, str):
        return Decision("failed", error=guard, custom_status=custom_status)
    new_events, cancelled = guard
    if error is not None:
        return Decision("failed", error=error, custom_status=custom_status)

    consumed: dict[str, int] = {}
    for wait in ctx.waits.values():
        if wait.state is not TaskState.RUNNING:
            consumed[str(wait.id)] = consumed.get(str(wait.id), 0) + 1
    if state.get("isDone"):
        restart = next((a for a in actions if a.get("actionType") == _CONTINUE_AS_NEW), None)
        if restart is not None:
            return Decision(
                "continued",
                custom_status=custom_status,
                continue_input=restart.get("input"),
                consumed_events=consumed,
            )
        return Decision("completed", output=state.get("output"), custom_status=custom_status)
    return Decision("running", custom_status=custom_status, new_events=new_events, cancelled_timers=cancelled)


def _flatten(actions: list[Any]) -> Any:
    for item in actions:
        if isinstance(item, list):
            yield from _flatten(item)
        elif isinstance(item, dict):
            if "compoundActions" in item:
                yield from _flatten(item["compoundActions"])
            else:
                yield item


def _check_and_schedule(
    ctx: _RecordingContext,
    history: list[dict[str, Any]],
    actions: list[dict[str, Any]],
    now: datetime,
    *,
    strict: bool,
) -> tuple[list[dict[str, Any]], list[int]] | str:
    """The determinism guard, then the scheduling events for tasks new in this episode.

    Returns the guard's failure message instead when the code and the history disagree.
    """
    for action in actions:
        what = _UNSUPPORTED.get(action.get("actionType", -1))
        if what:
            return f"{what} is not supported by the local durable engine"
    scheduled = {e["EventId"]: e for e in history if e["EventType"] in SCHEDULING}
    new_events: list[dict[str, Any]] = []
    cancelled: list[int] = []
    for task_id in sorted(ctx.numbered):
        task = ctx.numbered[task_id]
        want = _scheduling_event(task, task_id, now)
        if isinstance(want, str):
            return want
        have = scheduled.get(task_id)
        if have is None:
            if want.pop("_cancelled", False):
                continue
            new_events.append(want)
            continue
        if want.pop("_cancelled", False) and have["EventType"] == EventType.TIMER_CREATED:
            cancelled.append(task_id)
        if have["EventType"] != want["EventType"] or have.get("Name") != want.get("Name"):
            return (
                f"non-deterministic orchestrator: expected {kind_label(have)} at position {task_id}, "
                f"got {kind_label(want)}"
            )
    if strict:
        for task_id, have in sorted(scheduled.items()):
            if task_id not in ctx.numbered:
                return (
                    f"non-deterministic orchestrator: expected {kind_label(have)} at position {task_id}, "
                    "got nothing (the orchestrator no longer schedules it on replay)"
                )
    return new_events, cancelled


def _scheduling_event(task: AtomicTask, task_id: int, now: datetime) -> dict[str, Any] | str:
    action = _action_json(task)
    if not action:  # a NoOp task of a -WithRetry call: the retry timer, or the re-attempt
        parent = task.parent
        metadata = getattr(task.action_repr, "metadata", "") or ""
        retry = getattr(parent, "retry_options", None)
        if parent is None or retry is None:
            return f"internal error: task {task_id} has no action the local durable engine knows"
        if "timer" in metadata:
            fire_at = now + timedelta(milliseconds=retry.first_retry_interval_in_milliseconds)
            return event(EventType.TIMER_CREATED, now, task_id, FireAt=fmt(fire_at))
        original = parent.actions[0] if isinstance(parent.actions, list) else parent.actions
        action = dict(original.to_json())
    kind = action.get("actionType")
    if kind in (_CALL_ACTIVITY, _CALL_ACTIVITY_RETRY):
        return event(
            EventType.TASK_SCHEDULED,
            now,
            task_id,
            Name=action["functionName"],
            Version="",
            Input=action.get("input"),
        )
    if kind in (_CALL_SUB, _CALL_SUB_RETRY):
        return event(
            EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
            now,
            task_id,
            Name=action["functionName"],
            Version=action.get("version") or "",
            InstanceId=action.get("instanceId"),
            Input=action.get("input"),
        )
    if kind == _CREATE_TIMER:
        ev = event(EventType.TIMER_CREATED, now, task_id, FireAt=action["fireAt"])
        if action.get("isCanceled"):
            ev["_cancelled"] = True
        return ev
    what = _UNSUPPORTED.get(kind if isinstance(kind, int) else -1, f"action type {kind}")
    return f"{what} is not supported by the local durable engine"

"""History events in the shape the Durable extension hands to the Python SDK.

Each event is a plain dict with ``EventType`` (the SDK's ``HistoryEventType`` number),
``EventId``, ``IsPlayed``, ``Timestamp`` and per-type fields, exactly what
``azure.durable_functions.models.history.HistoryEvent(**event)`` consumes. Scheduling events
(TaskScheduled, SubOrchestrationInstanceCreated, TimerCreated) carry the task's sequence number
as ``EventId``; completion events point back to it with ``TaskScheduledId`` (or ``TimerId``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

# The SDK parses timestamps with dateutil and formats them with this pattern
# (azure/durable_functions/constants.py: DATETIME_STRING_FORMAT).
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class EventType(IntEnum):
    """azure/durable_functions/models/history/HistoryEventType.py"""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_INSTANCE_CREATED = 7
    SUB_ORCHESTRATION_INSTANCE_COMPLETED = 8
    SUB_ORCHESTRATION_INSTANCE_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_SENT = 14
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16


SCHEDULING = (EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_INSTANCE_CREATED, EventType.TIMER_CREATED)


def utcnow() -> datetime:
    return datetime.now(UTC)


def fmt(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def event(kind: EventType, at: datetime | str, event_id: int = -1, **fields: Any) -> dict[str, Any]:
    return {
        "EventType": int(kind),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": at if isinstance(at, str) else fmt(at),
        **fields,
    }


def kind_label(ev: dict[str, Any]) -> str:
    """How the determinism guard names a scheduling event: ``activity 'x'``, ``timer``…"""
    kind = ev["EventType"]
    if kind == EventType.TASK_SCHEDULED:
        return f"activity '{ev.get('Name')}'"
    if kind == EventType.SUB_ORCHESTRATION_INSTANCE_CREATED:
        return f"sub-orchestration '{ev.get('Name')}'"
    if kind == EventType.TIMER_CREATED:
        return "timer"
    return EventType(kind).name


def public(events: list[dict[str, Any]], *, with_output: bool) -> list[dict[str, Any]]:
    """History as the status API shows it (``showHistory=true``).

    Like the extension: event types by name, no replay bookkeeping (EventId, IsPlayed,
    OrchestratorStarted/Completed), completions carry the scheduled function's name and time,
    payloads only with ``showHistoryOutput=true``.
    """
    scheduled = {e["EventId"]: e for e in events if e["EventType"] in SCHEDULING}
    shown: list[dict[str, Any]] = []
    for e in events:
        kind = EventType(e["EventType"])
        if kind in (EventType.ORCHESTRATOR_STARTED, EventType.ORCHESTRATOR_COMPLETED, *SCHEDULING):
            continue
        item: dict[str, Any] = {"EventType": _pascal(kind), "Timestamp": e["Timestamp"]}
        source = scheduled.get(e.get("TaskScheduledId", e.get("TimerId", -2)))
        if source is not None:
            item["ScheduledTime"] = source["Timestamp"]
            if source.get("Name"):
                item["FunctionName"] = source["Name"]
        for key in ("Name", "OrchestrationStatus", "Reason", "Details", "FireAt"):
            if e.get(key) is not None:
                item["FunctionName" if key == "Name" else key] = e[key]
        if with_output:
            for key in ("Input", "Result"):
                if e.get(key) is not None:
                    item[key] = e[key]
        shown.append(item)
    return shown


def _pascal(kind: EventType) -> str:
    names = {
        EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED: "SubOrchestrationInstanceCompleted",
        EventType.SUB_ORCHESTRATION_INSTANCE_FAILED: "SubOrchestrationInstanceFailed",
    }
    return names.get(kind) or "".join(part.capitalize() for part in kind.name.split("_"))

"""The one orchestrator body: pass -> finish -> `continue_as_new` when requests arrived meanwhile.

Deterministic (Durable replays it): no I/O, no clock but the context's -- except one span,
recorded once the orchestration is done and not replaying (shared/telemetry: its times come from
the context, so every replay agrees). The trace context of the input (`traceparent`, `baggage`)
is handed to every activity and to the next execution. It is a plain generator
over a context protocol, so shared/ does not import azure.durable_functions; functions/spine.py
registers it for each feature with Durable's RetryOptions.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from typing import Any, Protocol

from shared import telemetry
from shared.spine.feature import BUSY, Feature


class OrchestrationContext(Protocol):
    """The part of `DurableOrchestrationContext` the orchestrator uses."""

    @property
    def instance_id(self) -> str: ...

    @property
    def current_utc_datetime(self) -> datetime: ...

    def get_input(self) -> Any: ...

    def call_activity(self, name: str, input_: Any = None) -> Any: ...

    def call_activity_with_retry(self, name: str, retry_options: Any, input_: Any = None) -> Any: ...

    def create_timer(self, fire_at: datetime) -> Any: ...

    def set_custom_status(self, status: Any) -> None: ...

    def continue_as_new(self, input_: Any) -> None: ...


def orchestrate(
    feature: Feature, context: OrchestrationContext, retry: Any
) -> Generator[Any, Any, dict[str, Any] | None]:
    """One key's orchestration: a pass (waiting out a held lease), then exactly one more if
    requests arrived meanwhile. Returns the pass's result (None when it continued as new)."""
    data = context.get_input() or {}
    key = data["key"]
    trace = telemetry.carrier_of(data)
    began = context.current_utc_datetime
    result: dict[str, Any] = {}
    for _ in range(feature.busy_attempts):
        result = yield context.call_activity_with_retry(
            feature.pass_activity, retry, {"key": key, "instance_id": context.instance_id, **trace}
        )
        if result["outcome"] != BUSY:
            break
        context.set_custom_status({"key": key, "outcome": "waiting for the key's running pass"})
        yield context.create_timer(context.current_utc_datetime + feature.busy_wait)
    more = yield context.call_activity(
        feature.finish_activity, {"key": key, "covered": result.get("covered", 0), **trace}
    )
    context.set_custom_status({"key": key, "outcome": result["outcome"], **result.get("summary", {})})
    if not getattr(context, "is_replaying", True):  # Durable's context has it; test doubles may not
        telemetry.record_span(
            f"orchestration {feature.orchestrator}",
            parent=trace,
            start=began,
            end=context.current_utc_datetime,
            **{telemetry.key_name(feature.name): key},
            instance_id=context.instance_id,
            outcome=result["outcome"],
        )
    if more:
        context.continue_as_new({"key": key, "reason": "requests arrived during the pass", **trace})
        return None
    return result

"""Spans and the W3C trace context that ties one event's work into one trace.

The trace context crosses three boundaries the OpenTelemetry instrumentations do not see:

- **Service Bus**: a message carries its producer's context in the application property
  `traceparent` (W3C) or `Diagnostic-Id` (what the Azure SDKs' tracing writes, also W3C
  traceparent text; https://learn.microsoft.com/azure/service-bus-messaging/service-bus-end-to-end-tracing).
  `parent_from` reads either.
- **Durable orchestrations**: an orchestration's input and its activities' payloads carry
  `{"traceparent": ...}` (`carry()`), set by the app, so activities continue the trigger's trace
  whatever the Durable extension's own correlation does. Orchestrator code never opens spans
  while replaying (it would record them once per replay).
- **A dead-letter replay**: the replayed message gets a new `traceparent` (the replay's) and keeps
  the original in `cts-original-traceparent`; the trigger that handles it links the original
  trace (`link_to`), so both traces find each other.

Span attributes are ids only (event id, scope, team key, store, instance id, Graph request id);
never a name, UPN or mail address.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
DIAGNOSTIC_ID = "Diagnostic-Id"
ORIGINAL_TRACEPARENT = "cts-original-traceparent"

_PROPAGATOR = TraceContextTextMapPropagator()
_BAGGAGE = W3CBaggagePropagator()
BAGGAGE = "baggage"
# Ids that follow the work across boundaries as W3C baggage (so a pass's log records name the
# event that caused it); ids only, never personal data.
BAGGAGE_KEYS = ("event_id",)
_TRACEPARENT_RE = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_tracer = trace.get_tracer("cts")


def carry() -> dict[str, str]:
    """`{"traceparent": ..., "baggage": "event_id=..."}` of the current context (`{}` when
    nothing is being traced and no id is in the baggage)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    _BAGGAGE.inject(carrier)
    return {k: carrier[k] for k in (TRACEPARENT, BAGGAGE) if k in carrier}


@contextmanager
def carried(**ids: str | None) -> Iterator[None]:
    """Put ids (`event_id`) in the baggage for the work inside (see BAGGAGE_KEYS)."""
    ctx = otel_context.get_current()
    for key, value in ids.items():
        if key not in BAGGAGE_KEYS:
            raise ValueError(f"{key} is not carried as baggage (BAGGAGE_KEYS)")
        if value:
            ctx = baggage.set_baggage(key, str(value), ctx)
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


def carried_ids() -> dict[str, str]:
    """The baggage ids of the current context (e.g. the event a pass works for)."""
    return {k: str(v) for k, v in baggage.get_all().items() if k in BAGGAGE_KEYS}


def traceparent_of(carrier: Mapping[str, Any] | None) -> str | None:
    """The W3C traceparent in a carrier (`traceparent` or `Diagnostic-Id`), if well-formed."""
    if not carrier:
        return None
    for key in (TRACEPARENT, DIAGNOSTIC_ID, DIAGNOSTIC_ID.lower()):
        value = carrier.get(key)
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        if isinstance(value, str) and _TRACEPARENT_RE.match(value.strip()):
            return value.strip()
    return None


def parent_from(carrier: Mapping[str, Any] | None) -> Context | None:
    """An OpenTelemetry context whose parent is the carrier's traceparent, with its baggage
    (None if it has neither)."""
    parent = traceparent_of(carrier)
    bag = carrier.get(BAGGAGE) if carrier else None
    if parent is None and not isinstance(bag, str):
        return None
    ctx = _PROPAGATOR.extract({TRACEPARENT: parent}) if parent else Context()
    if isinstance(bag, str):
        ctx = _BAGGAGE.extract({BAGGAGE: bag}, context=ctx)
    return ctx


def link_to(traceparent: str | None, **attributes: Any) -> list[Link]:
    """A link to another trace (e.g. the original delivery of a replayed dead letter)."""
    ctx = parent_from({TRACEPARENT: traceparent}) if traceparent else None
    if ctx is None:
        return []
    sc = trace.get_current_span(ctx).get_span_context()
    return [Link(sc, attributes=_attributes(attributes))] if sc.is_valid else []


def current_trace_id() -> str | None:
    sc = trace.get_current_span().get_span_context()
    return format(sc.trace_id, "032x") if sc.is_valid else None


def _attributes(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in values.items():
        if v is None:
            continue
        if isinstance(v, bool | int | float | str):
            out[k] = v
        elif isinstance(v, Sequence) and not isinstance(v, bytes):
            out[k] = [str(x) for x in v]
        else:
            out[k] = str(v)
    return out


@contextmanager
def span(
    name: str,
    *,
    parent: Mapping[str, Any] | None = None,
    links: Sequence[Link] = (),
    kind: SpanKind = SpanKind.INTERNAL,
    **attributes: Any,
) -> Iterator[Span]:
    """A span named `name` under the current span, or under `parent`'s traceparent when given.

    An exception marks the span as an error and goes on up.
    """
    context = parent_from(parent) if parent is not None else None
    # Attached first, so its baggage (not only its parent span) is current inside the span.
    token = otel_context.attach(context) if context is not None else None
    try:
        with _tracer.start_as_current_span(
            name,
            kind=kind,
            links=list(links),
            attributes=_attributes({f"cts.{k}": v for k, v in attributes.items()}),
            record_exception=True,
            set_status_on_exception=False,
        ) as s:
            try:
                yield s
            except BaseException as exc:
                s.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
    finally:
        if token is not None:
            otel_context.detach(token)


def annotate(target: Span, **attributes: Any) -> None:
    """Add ids learnt during the work (event id, outcome, ...) to an open span."""
    target.set_attributes(_attributes({f"cts.{k}": v for k, v in attributes.items()}))


def record_span(
    name: str,
    *,
    parent: Mapping[str, Any] | None,
    start: datetime,
    end: datetime,
    error: str | None = None,
    **attributes: Any,
) -> None:
    """Record a finished span with explicit times: an orchestration, told once it is done and not
    replaying (its start is the context's first `current_utc_datetime`, so replays agree)."""
    s = _tracer.start_span(
        name,
        context=parent_from(parent) if parent is not None else None,
        attributes=_attributes({f"cts.{k}": v for k, v in attributes.items()}),
        start_time=_nanos(start),
    )
    if error:
        s.set_status(Status(StatusCode.ERROR, error))
    s.end(end_time=_nanos(end))


def _nanos(when: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1_000_000_000)


def carrier_of(data: Mapping[str, Any] | None) -> dict[str, str]:
    """The trace-context part of a payload (`traceparent`, `baggage`), to hand on unchanged."""
    out: dict[str, str] = {}
    parent = traceparent_of(data)
    if parent:
        out[TRACEPARENT] = parent
    if data and isinstance(data.get(BAGGAGE), str):
        out[BAGGAGE] = data[BAGGAGE]
    return out


def key_name(feature: str) -> str:
    """The id name a feature's key goes by in logs and spans: teams -> team_key, tasks -> task_key."""
    return f"{feature.removesuffix('s')}_key"

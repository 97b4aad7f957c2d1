"""Telemetry for the whole app: one log helper, spans, trace-context carriers, metrics.

Only the OpenTelemetry *API* is used here (cheap to import, a no-op until a provider is set).
Providers and exporters are configured once at the edge: `functions/telemetry.py` in Azure
(`azure-monitor-opentelemetry`), `local/host/telemetry.py` on the local host (JSONL files).
Nothing in this package reads settings or does I/O at import time.
"""

from opentelemetry.trace import Span, SpanKind

from shared.telemetry.context import (
    TRACEPARENT,
    annotate,
    carried,
    carrier_of,
    carry,
    current_trace_id,
    key_name,
    link_to,
    parent_from,
    record_span,
    span,
    traceparent_of,
)
from shared.telemetry.logs import log_event
from shared.telemetry.metrics import count, observe

__all__ = [
    "TRACEPARENT",
    "Span",
    "SpanKind",
    "annotate",
    "carried",
    "carrier_of",
    "carry",
    "count",
    "current_trace_id",
    "key_name",
    "link_to",
    "log_event",
    "observe",
    "parent_from",
    "record_span",
    "span",
    "traceparent_of",
]

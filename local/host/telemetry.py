"""The local host's OpenTelemetry pipeline: the same API calls as in Azure, exported to files.

Azure: the app configures `azure-monitor-opentelemetry` (functions/telemetry.py) and the Functions
host creates one span per invocation, parented by the trigger's trace context (a Service Bus
message's `Diagnostic-Id`/`traceparent`, an HTTP request's `traceparent`), which the Python worker
attaches before calling the function. Here the host does the same (`invocation_span`) and the
SDK writes every finished span and, every few seconds and at shutdown, the metrics as JSON lines:

    <data dir>/telemetry/spans.jsonl     one span per line (trace_id, span_id, parent_id, links...)
    <data dir>/telemetry/metrics.jsonl   one metric point per line

`cts trace EVENT_ID` reads spans.jsonl. One provider per process (OpenTelemetry allows one); each
running host registers its own file with it. `CTS_LOCAL_TRACING=0` turns the pipeline off (for
`make bench`: events/s with and without tracing).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

SPANS_FILE = "spans.jsonl"
METRICS_FILE = "metrics.jsonl"

_lock = threading.Lock()
_span_files: list[Path] = []
_metric_files: list[Path] = []
_installed: dict[str, Any] = {}
# One open handle per file, kept for the host's life (opening the file per export cost ~3 % of
# the host's CPU under 500 notifications/s); closed by `unregister`.
_handles: dict[Path, int] = {}
_host_tracer = trace.get_tracer("local.host")


def enabled() -> bool:
    return os.environ.get("CTS_LOCAL_TRACING", "1").strip().lower() not in ("0", "false", "no", "off")


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def span_record(s: ReadableSpan) -> dict[str, Any]:
    ctx = s.get_span_context()
    assert ctx is not None
    return {
        "name": s.name,
        "trace_id": _hex(ctx.trace_id, 32),
        "span_id": _hex(ctx.span_id, 16),
        "parent_id": _hex(s.parent.span_id, 16) if s.parent is not None else None,
        "kind": s.kind.name,
        "start": (s.start_time or 0) / 1e9,
        "end": (s.end_time or 0) / 1e9,
        "duration_ms": round(((s.end_time or 0) - (s.start_time or 0)) / 1e6, 3),
        "status": s.status.status_code.name,
        "status_description": s.status.description,
        "attributes": dict(s.attributes or {}),
        "links": [
            {
                "trace_id": _hex(link.context.trace_id, 32),
                "span_id": _hex(link.context.span_id, 16),
                "attributes": dict(link.attributes or {}),
            }
            for link in s.links
        ],
        "scope": s.instrumentation_scope.name if s.instrumentation_scope else None,
    }


def _append(path: Path, text: str) -> None:
    """Append (readers such as `cts trace` see every finished span); caller holds _lock. One
    write(2) on an O_APPEND descriptor per call, so the lines of the host's worker processes
    (local/host/workers.py), appending to the same file, never interleave within a line."""
    fd = _handles.get(path)
    if fd is None:
        fd = _handles[path] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    data = text.encode("utf-8")
    while data:
        data = data[os.write(fd, data) :]


class JsonlSpanExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(span_record(s), default=str) + "\n" for s in spans)
        with _lock:
            for path in _span_files:
                _append(path, lines)
        return SpanExportResult.SUCCESS


class JsonlMetricExporter(MetricExporter):
    def __init__(self) -> None:
        super().__init__()

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **_: Any
    ) -> MetricExportResult:
        rows: list[str] = []
        for rm in metrics_data.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    for point in m.data.data_points:
                        # pid: each worker process exports its own points (sum them per pid)
                        row: dict[str, Any] = {"name": m.name, "attributes": dict(point.attributes or {}),
                                               "pid": os.getpid()}  # fmt: skip
                        for field in ("value", "count", "sum", "min", "max"):
                            if hasattr(point, field):
                                row[field] = getattr(point, field)
                        row["time"] = point.time_unix_nano / 1e9
                        rows.append(json.dumps(row, default=str) + "\n")
        with _lock:
            for path in _metric_files:
                _append(path, "".join(rows))
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **_: Any) -> None:
        return None


def install() -> bool:
    """Set this process's tracer and meter providers once (no-op when tracing is off)."""
    if not enabled():
        return False
    with _lock:
        if _installed:
            return True
        resource = Resource.create({"service.name": "cts-functions", "cloud.provider": "local"})
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(SimpleSpanProcessor(JsonlSpanExporter()))
        trace.set_tracer_provider(provider)
        reader = PeriodicExportingMetricReader(JsonlMetricExporter(), export_interval_millis=5_000)
        meters = MeterProvider(resource=resource, metric_readers=[reader])
        metrics.set_meter_provider(meters)
        _installed.update(tracer=provider, meter=meters, reader=reader)
    instrument_httpx()
    return True


def instrument_httpx() -> None:
    """HTTP client spans for httpx (Graph through msgraph-sdk, Commerce OData): the same
    instrumentation functions/telemetry.py turns on in Azure."""
    from shared.telemetry.http import instrument

    instrument()


def register(data_dir: Path) -> Path | None:
    """Send this process's telemetry (also) to `data_dir/telemetry/`; returns that folder."""
    if not install():
        return None
    folder = data_dir / "telemetry"
    folder.mkdir(parents=True, exist_ok=True)
    with _lock:
        for files, name in ((_span_files, SPANS_FILE), (_metric_files, METRICS_FILE)):
            if folder / name not in files:
                files.append(folder / name)
    return folder


def unregister(data_dir: Path) -> None:
    flush()
    folder = data_dir / "telemetry"
    with _lock:
        for files, name in ((_span_files, SPANS_FILE), (_metric_files, METRICS_FILE)):
            if folder / name in files:
                files.remove(folder / name)
            handle = _handles.pop(folder / name, None)
            if handle is not None:
                os.close(handle)


def flush() -> None:
    if _installed:
        _installed["tracer"].force_flush()
        _installed["meter"].force_flush()


_KIND = {"serviceBusTrigger": SpanKind.CONSUMER, "httpTrigger": SpanKind.SERVER}


@contextmanager
def invocation_span(
    function: str, trigger_type: str, invocation_id: str, carrier: Mapping[str, Any] | None
) -> Iterator[str | None]:
    """The host's span for one invocation (parented by the trigger's trace context); yields its
    traceparent for the function's `context.trace_context`."""
    from shared.telemetry.context import carry, parent_from

    if not _installed:
        yield None
        return
    with _host_tracer.start_as_current_span(
        function,
        context=parent_from(carrier),
        kind=_KIND.get(trigger_type, SpanKind.INTERNAL),
        attributes={"faas.name": function, "faas.invocation_id": invocation_id, "faas.trigger": trigger_type},
    ):
        yield carry().get("traceparent")

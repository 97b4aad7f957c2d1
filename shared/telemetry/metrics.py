"""The app's metrics, named once here (OpenTelemetry API; no-ops until a MeterProvider is set).

- `cts.events` (counter; outcome): Commerce events in -- requested, duplicate, stale, rejected...
- `cts.passes` (counter; kind, outcome): sync and mirror passes by outcome.
- `cts.drift.found` / `cts.drift.fixed` (counters; kind): operations passes planned / applied.
- `cts.dead_letters` (counter; entity, reason): messages refused for good (the bus dead-letters).
- `cts.graph.requests` (counter; route, status): every Graph request sent, retries included.
- `cts.graph.throttled` (counter; route): Graph 429 answers.
- `cts.notification.lag` (histogram, s): from a notification's queueing to its handling.
- `cts.tasks.poll.requests` (histogram; mode): Graph requests one Planner poll cost.
- `cts.webhook.failures` (counter; endpoint, problem): webhook calls refused.
- `cts.subscriptions.failed` (counter): Graph subscription actions that failed.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics

_meter = metrics.get_meter("cts")

_COUNTERS = {
    "cts.events": "Commerce events received, by outcome",
    "cts.passes": "sync and mirror passes, by kind and outcome",
    "cts.drift.found": "operations planned by passes",
    "cts.drift.fixed": "operations applied by passes",
    "cts.dead_letters": "messages refused for good",
    "cts.graph.requests": "Graph requests sent, retries included",
    "cts.graph.throttled": "Graph 429 answers",
    "cts.webhook.failures": "webhook calls refused",
    "cts.subscriptions.failed": "Graph subscription actions that failed",
}
_HISTOGRAMS = {
    "cts.notification.lag": ("s", "seconds from a notification's queueing to its handling"),
    "cts.tasks.poll.requests": ("{request}", "Graph requests one Planner poll cost"),
}
_counters = {name: _meter.create_counter(name, description=d) for name, d in _COUNTERS.items()}
_histograms = {
    name: _meter.create_histogram(name, unit=unit, description=d) for name, (unit, d) in _HISTOGRAMS.items()
}


def count(name: str, value: int = 1, **attributes: Any) -> None:
    """Add to counter `name` (one of the table above; anything else is a programming error)."""
    _counters[name].add(value, {k: str(v) for k, v in attributes.items() if v is not None})


def observe(name: str, value: float, **attributes: Any) -> None:
    _histograms[name].record(value, {k: str(v) for k, v in attributes.items() if v is not None})

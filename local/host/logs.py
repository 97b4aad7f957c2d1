"""Host logs: one line per event, readable text by default, JSON lines with ``--log-format json``.

Every record carries the function name and invocation id of the invocation it was logged in
(context variables, so they follow into worker threads via `asyncio.to_thread`/`copy_context`),
which is what Azure's worker adds to the app's own log records.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

current_function: contextvars.ContextVar[str | None] = contextvars.ContextVar("function", default=None)
current_invocation: contextvars.ContextVar[str | None] = contextvars.ContextVar("invocation", default=None)

# Attributes of every LogRecord: anything else in __dict__ came from `extra=` and is printed.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_OWN = {"function", "invocation_id", "event", "outcome", "duration_ms", "color_message"}


class InvocationFilter(logging.Filter):
    """Adds ``function`` and ``invocation_id`` from the running invocation (if not set explicitly)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "function", None) is None:
            record.function = current_function.get()
        if getattr(record, "invocation_id", None) is None:
            record.invocation_id = current_invocation.get()
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    if getattr(record, "cts_ids_in_message", False):  # shared.telemetry.log_event: ids already in text
        return {}
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and k not in _OWN}


class TextFormatter(logging.Formatter):
    """``2024-05-01T10:00:00.123Z INFO  commerce_event [1a2b3c4d] Executed ok 12 ms  key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        parts = [when, f"{record.levelname:<7}"]
        function = getattr(record, "function", None)
        parts.append(function or record.name)
        invocation = getattr(record, "invocation_id", None)
        if invocation:
            parts.append(f"[{invocation[:8]}]")
        parts.append(record.getMessage())
        outcome = None if getattr(record, "cts_ids_in_message", False) else getattr(record, "outcome", None)
        if outcome:
            parts.append(f"outcome={outcome}")
        duration = getattr(record, "duration_ms", None)
        if duration is not None:
            parts.append(f"duration={duration:.0f}ms")
        parts.extend(f"{k}={v}" for k, v in _extras(record).items())
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        elif record.exc_text:  # formatted in a worker process (local/host/workers.py)
            line += "\n" + record.exc_text
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, function, invocation_id, message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "function": getattr(record, "function", None),
            "invocation_id": getattr(record, "invocation_id", None),
            "message": record.getMessage(),
        }
        for key in ("event", "outcome", "duration_ms"):
            if getattr(record, key, None) is not None:
                document[key] = getattr(record, key)
        if getattr(record, "cts_ids_in_message", False):  # the ids as fields too (customDimensions)
            document.update({k: v for k, v in vars(record).items() if k not in _STANDARD and k not in _OWN})
            document.pop("cts_ids_in_message", None)
        else:
            document.update(_extras(record))
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exception"] = record.exc_text
        return json.dumps(document, default=str)


def configure_logging(fmt: str = "text", level: int | str = logging.INFO) -> None:
    """Route every log record (host and app) to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(InvocationFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("uvicorn.access", "uvicorn.error", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

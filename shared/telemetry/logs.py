"""The app's one log helper: `log_event(logger, "sync pass", team_key=..., instance_id=...)`.

Each record also names the event the work is for (`event_id`, carried as W3C baggage from the
Commerce trigger through the orchestration to its activities) and the current `trace_id`.

Why the ids go into the message text *and* onto the record:

- The Python worker forwards a log record to the Functions host as its formatted message, level
  and category only; `extra={...}` never reaches Application Insights `customDimensions`
  (Azure/azure-functions-python-worker#1327: `extra` -- flat or as `custom_dimensions` -- shows
  only HostInstanceId, InvocationId, LogLevel, ProcessId, Category; #1681: the same with the
  OpenTelemetry-style `extra`, "does not work with the built-in logging of the Function App").
  So the one form that survives the worker in every configuration is the **message text**:
  `teams pass team_key=store:0042 instance_id=sync-store-0042 outcome=changed`, queryable in KQL
  with `parse`/`extract` on `traces.message`.
- When the app itself exports through `azure-monitor-opentelemetry` (functions/telemetry.py),
  the distro's logging handler turns a record's extra attributes into OpenTelemetry log
  attributes, which App Insights stores as `customDimensions` (the answer in #1681; see
  https://learn.microsoft.com/azure/azure-monitor/app/opentelemetry-add-modify?tabs=python).
  The same ids are therefore also set as record attributes, so `customDimensions.team_key`
  works there.

Never personal data or secrets: keys that name a person (upn, email, name, ...) are refused,
and any value that looks like a mail address or UPN is replaced by "[redacted]".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

# Set on every record made here; local/host/logs.py then does not print the ids a second time.
IDS_IN_MESSAGE = "cts_ids_in_message"

_PERSONAL_KEYS = frozenset(
    {
        "upn",
        "user_principal_name",
        "userprincipalname",
        "email",
        "mail",
        "name",
        "display_name",
        "displayname",
        "given_name",
        "surname",
        "phone",
        "client_state",
        "secret",
        "token",
        "password",
    }
)
_MAIL = re.compile(r"[^\s@]+@[^\s@]+")
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return ",".join(f"{k}:{_text(v)}" for k, v in value.items())
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return ",".join(_text(v) for v in value)
    text = str(value)
    text = _MAIL.sub("[redacted]", text)
    return f'"{text}"' if (" " in text or not text) else text


def _attribute(value: Any) -> Any:
    """An OpenTelemetry-compatible attribute value (str, bool, int, float or a list of str)."""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return _text(value)
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return [_MAIL.sub("[redacted]", str(v)) for v in value]
    return _MAIL.sub("[redacted]", str(value))


def log_event(
    logger: logging.Logger,
    message: str,
    *,
    level: int = logging.INFO,
    exc_info: BaseException | bool | None = None,
    **ids: Any,
) -> None:
    """Log `message` followed by `key=value` for each id that is not None (see module doc)."""
    refused = sorted(k for k in ids if k.lower() in _PERSONAL_KEYS)
    if refused:
        raise ValueError(f"log_event: {', '.join(refused)} may hold personal data or a secret; log an id")
    if not logger.isEnabledFor(level):
        return
    from shared.telemetry.context import carried_ids, current_trace_id

    present = {**carried_ids(), **{k: v for k, v in ids.items() if v is not None}}
    present.setdefault("trace_id", current_trace_id())
    if present["trace_id"] is None:
        del present["trace_id"]
    text = " ".join([message, *(f"{k}={_text(v)}" for k, v in present.items())])
    extra: dict[str, Any] = {IDS_IN_MESSAGE: True}
    for k, v in present.items():
        extra[f"cts_{k}" if k in _RESERVED else k] = _attribute(v)
    logger.log(level, "%s", text, extra=extra, exc_info=exc_info, stacklevel=2)

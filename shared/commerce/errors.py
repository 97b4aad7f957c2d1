"""Typed Commerce (F&O OData) errors, built from the HTTP status and F&O's error body.

F&O answers errors as `{"error": {"code": "", "message": "...", "innererror": {"message", "type",
"stacktrace"}}}`; `code` is usually empty, so the status decides the type and the messages are
kept for people. Transient errors (`Throttled`, `CommerceUnavailable`) are worth retrying, or
raising so the Service Bus retries; the others are not.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx


class CommerceError(Exception):
    """A Commerce request failed. `status` is None when no HTTP answer arrived."""

    transient = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        inner_message: str = "",
        method: str = "",
        url: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.inner_message = inner_message
        self.method = method
        self.url = url

    def __str__(self) -> str:
        where = f" ({self.method} {self.url})" if self.method else ""
        status = f"{self.status} " if self.status is not None else ""
        inner = (
            f" — {self.inner_message}" if self.inner_message and self.inner_message != self.message else ""
        )
        return f"{status}{self.message}{inner}{where}"


class BadRequest(CommerceError):
    """400: the query or payload is wrong (often an entity or field name the environment lacks —
    check docs/commerce.md and the environment's /data/$metadata)."""


class Unauthorized(CommerceError):
    """401: no or bad token. Check the app registration and that F&O has it under
    System administration > Setup > Microsoft Entra applications."""


class Forbidden(CommerceError):
    """403: the application user lacks a security role for this entity."""


class NotFound(CommerceError):
    """404: no such record (or entity set)."""


class PreconditionFailed(CommerceError):
    """412: the If-Match ETag is stale — someone changed the record; re-read and decide again."""


class Conflict(CommerceError):
    """409: the write conflicts with the record's current state."""


class Throttled(CommerceError):
    """429 after every retry: F&O's priority-based throttling. `retry_after` in seconds."""

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class CommerceUnavailable(CommerceError):
    """5xx after every retry, a timeout, or no connection: Commerce is down or overloaded."""

    transient = True


_BY_STATUS: dict[int, type[CommerceError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    429: Throttled,
}


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds (RFC 9110: delay-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def error_from_response(response: httpx.Response) -> CommerceError:
    """The typed error for a non-2xx F&O response."""
    code, message, inner = "", "", ""
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code = str(err.get("code") or "")
        message = str(err.get("message") or "")
        inner_obj = err.get("innererror") or err.get("innerError") or {}
        if isinstance(inner_obj, dict):
            inner = str(inner_obj.get("message") or "")
    if not message:
        message = response.reason_phrase or f"HTTP {response.status_code}"
    request = response.request
    kw: dict[str, Any] = {
        "status": response.status_code,
        "code": code,
        "inner_message": inner,
        "method": request.method,
        "url": str(request.url),
    }
    status = response.status_code
    if status == 429:
        return Throttled(message, retry_after=parse_retry_after(response.headers.get("Retry-After")), **kw)
    if status >= 500:
        return CommerceUnavailable(message, **kw)
    return _BY_STATUS.get(status, CommerceError)(message, **kw)

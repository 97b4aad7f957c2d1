"""Typed Dataverse Web API errors from the status and `{"error": {"code", "message"}}`.
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors
"""

from __future__ import annotations

import json

import httpx


class DataverseError(Exception):
    transient = False

    def __init__(
        self, message: str, *, status: int | None = None, code: str = "", method: str = "", url: str = ""
    ):
        super().__init__(message)
        self.message, self.status, self.code, self.method, self.url = message, status, code, method, url

    def __str__(self) -> str:
        where = f" ({self.method} {self.url})" if self.method else ""
        status = f"{self.status} " if self.status is not None else ""
        code = f"[{self.code}] " if self.code else ""
        return f"{status}{code}{self.message}{where}"


class BadRequest(DataverseError):
    """400: a column, table or `$filter` the environment does not have, or a bad value."""


class Unauthorized(DataverseError):
    """401/403: no token, or the application user lacks a security role on the table."""


class NotFound(DataverseError):
    """404 (code 0x80040217): the row does not exist."""


class PreconditionFailed(DataverseError):
    """412 (code 0x80060882): the row changed since it was read (If-Match), or already exists."""


class Throttled(DataverseError):
    """429: a service protection limit; `retry_after` seconds from the header."""

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class DataverseUnavailable(DataverseError):
    """5xx or no answer."""

    transient = True


def error_from_response(response: httpx.Response) -> DataverseError:
    status = response.status_code
    code, message = "", response.reason_phrase or f"HTTP {status}"
    try:
        body = json.loads(response.content or b"{}")
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            code = str(err.get("code") or "")
            message = str(err.get("message") or message)
    except ValueError:
        pass
    kw = {
        "status": status,
        "code": code,
        "method": response.request.method,
        "url": str(response.request.url.path),
    }
    if status == 429:
        raw = response.headers.get("Retry-After")
        try:
            retry = float(raw) if raw is not None else None
        except ValueError:
            retry = None
        return Throttled(message, retry_after=retry, **kw)
    cls: type[DataverseError] = {
        400: BadRequest,
        401: Unauthorized,
        403: Unauthorized,
        404: NotFound,
        412: PreconditionFailed,
    }.get(status, DataverseUnavailable if status >= 500 else DataverseError)
    return cls(message, **kw)  # type: ignore[arg-type]

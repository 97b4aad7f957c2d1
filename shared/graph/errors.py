"""Typed Graph errors: what the layers above see instead of raw HTTP or ODataError JSON.

Every error carries the HTTP status, Graph's `error.code`, the message and the request id (quote
it to Microsoft support). `from_status` is the single place that maps a failed response to a type.
"""

from __future__ import annotations

from typing import Any

# Planner answers 403 with the exceeded limit as error.code, e.g. MaximumTasksInProject.
# https://learn.microsoft.com/en-us/graph/api/resources/planner-overview (Planner limits)
PLANNER_LIMIT_CODES = frozenset(
    {
        "MaximumTasksInProject",
        "MaximumActiveTasksInProject",
        "MaximumBucketsInProject",
        "MaximumChecklistItemsOnTask",
        "MaximumAssigneesInTasks",
        "MaximumProjectsOwnedByUser",
        "MaximumReferencesOnTask",
        "MaximumTasksCreatedByUser",
        "MaximumTasksAssignedToUser",
        "MaximumUsersSharedWithProject",
        "MaximumPlannerPlans",
    }
)


class GraphError(Exception):
    """A Graph request failed. `status` is 0 when no HTTP response was received."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = [f"{self.status} {self.code or type(self).__name__}: {self.message}"]
        if self.request_id:
            parts.append(f"(request-id {self.request_id})")
        return " ".join(parts)


class BadRequest(GraphError):
    """400: the request is malformed or not allowed in this state; fix the input, do not retry."""


class Unauthorized(GraphError):
    """401: the token is missing, expired or for another audience."""


class Forbidden(GraphError):
    """403: the app lacks an application permission (see docs/graph-gateway.md)."""


class PlannerLimitExceeded(Forbidden):
    """403 whose code names a Planner limit (tasks per plan, assignees, checklist items...)."""


class NotFound(GraphError):
    """404: the object does not exist (or has not replicated yet)."""


class Conflict(GraphError):
    """409: the object already exists or conflicts with a newer change."""


class Gone(GraphError):
    """410: e.g. an expired delta token; the caller must resynchronise from scratch."""


class PreconditionFailed(GraphError):
    """412: the If-Match ETag is stale; re-read the object and retry."""


class FailedDependency(GraphError):
    """424: a $batch request whose dependsOn request failed was not run."""


class Throttled(GraphError):
    """429/503/504 still answered after the retry budget was spent."""


class ServerError(GraphError):
    """5xx still answered after the retry budget was spent."""


class GraphUnavailable(GraphError):
    """No HTTP response (connection refused, dropped, timed out) after retries."""


_BY_STATUS: dict[int, type[GraphError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    412: PreconditionFailed,
    424: FailedDependency,
    429: Throttled,
    503: Throttled,
    504: Throttled,
}


def from_status(
    status: int,
    code: str | None,
    message: str | None,
    *,
    request_id: str | None = None,
    retry_after: float | None = None,
) -> GraphError:
    """The typed error for a failed response."""
    if status == 403 and code in PLANNER_LIMIT_CODES:
        cls: type[GraphError] = PlannerLimitExceeded
    elif status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif status >= 500:
        cls = ServerError
    else:
        cls = GraphError
    return cls(
        message or f"Graph answered {status}",
        status=status,
        code=code,
        request_id=request_id,
        retry_after=retry_after,
    )


def from_body(status: int, body: Any, headers: Any = None) -> GraphError:
    """Map a Graph error body `{"error": {"code", "message", "innerError": {"request-id"}}}`."""
    err = body.get("error") if isinstance(body, dict) else None
    err = err if isinstance(err, dict) else {}
    inner = err.get("innerError") or err.get("innererror") or {}
    request_id = inner.get("request-id") if isinstance(inner, dict) else None
    if not request_id and headers is not None:
        request_id = _header(headers, "request-id")
    return from_status(
        status,
        err.get("code"),
        err.get("message"),
        request_id=request_id,
        retry_after=parse_retry_after(_header(headers, "retry-after")) if headers is not None else None,
    )


def from_sdk(exc: BaseException) -> GraphError:
    """Map msgraph-sdk's ODataError / kiota's APIError (anything with response_status_code)."""
    if isinstance(exc, GraphError):
        return exc
    status = int(getattr(exc, "response_status_code", 0) or 0)
    main = getattr(exc, "error", None)
    code = getattr(main, "code", None)
    message = getattr(main, "message", None) or getattr(exc, "message", None) or str(exc)
    inner = getattr(main, "inner_error", None)
    request_id = getattr(inner, "request_id", None)
    headers = getattr(exc, "response_headers", None)
    if not request_id and headers:
        request_id = _header(headers, "request-id")
    retry_after = parse_retry_after(_header(headers, "retry-after")) if headers else None
    return from_status(status, code, message, request_id=request_id, retry_after=retry_after)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (Graph sends delta-seconds); None when absent or unparsable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            from datetime import UTC, datetime

            when = parsedate_to_datetime(value)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            return None


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    if hasattr(headers, "get"):
        value = headers.get(name)
        if value is None:
            value = next((v for k, v in dict(headers).items() if str(k).lower() == name), None)
    else:
        value = None
    if isinstance(value, (list, tuple, set)):
        value = next(iter(value), None)
    return str(value) if value is not None else None

"""Graph-shaped errors: one exception type, one body shape.

Graph error body: https://learn.microsoft.com/graph/errors
``{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}``
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


class GraphError(Exception):
    """An error answered to the client exactly as Graph would shape it."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def now_iso() -> str:
    """UTC timestamp the way Graph writes it (``2024-01-01T00:00:00.1234567Z`` style, 7 digits)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def error_body(code: str, message: str, request_id: str, client_request_id: str | None) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id or request_id,
            },
        }
    }


def not_found(ident: str) -> GraphError:
    """The directory's 404 (users, groups, deleted items): https://learn.microsoft.com/graph/errors"""
    message = (
        f"Resource '{ident}' does not exist or one of its queried reference-property objects are not present."
    )
    return GraphError(404, "Request_ResourceNotFound", message)

"""HTTP client telemetry: httpx spans (OpenTelemetry's httpx instrumentation) with ids only, and
the Graph request metrics, named by route.

- Span names and URL attributes carry the *route* (`GET /v1.0/teams/{id}/members`), never the
  query or a path segment that is an id: a Graph path can hold a UPN (`/users/{upn}`) and a
  `$filter` can hold names, so the instrumentation's `url.full`/`http.url` are overwritten.
- `graph.request_id` is Graph's `request-id` response header, what Microsoft support asks for
  (https://learn.microsoft.com/graph/errors#response-headers... "request-id").
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote

import httpx

from shared.telemetry.metrics import count

_WORD = re.compile(r"^(?:[A-Za-z$]{1,40}(?:\.[A-Za-z]{1,40})*|v1\.0|beta)$")
_instrumented = False
log = logging.getLogger("cts.telemetry")


def route_of(path: str) -> str:
    """`/v1.0/teams/9f0c.../members/abc` -> `/v1.0/teams/{id}/members/{id}` (ids and names out)."""
    parts = []
    for segment in unquote(path).split("/"):
        if not segment:
            continue
        name = segment.split("(")[0]  # OData keys: Workers('000123') -> Workers({id})
        if _WORD.match(name) and len(name) <= 40 and not any(c.isdigit() for c in name.strip("v1.0")):
            parts.append(name + ("({id})" if "(" in segment else ""))
        else:
            parts.append("{id}")
    return "/" + "/".join(parts)


def _scrub(span: Any, request: Any) -> None:
    method = request.method.decode() if isinstance(request.method, bytes) else str(request.method)
    url = httpx.URL(str(request.url)) if not isinstance(request.url, httpx.URL) else request.url
    route = route_of(url.path)
    span.update_name(f"{method} {route}")
    safe = f"{url.scheme}://{url.host}{f':{url.port}' if url.port else ''}{route}"
    for key in ("url.full", "http.url"):
        span.set_attribute(key, safe)
    span.set_attribute("http.route", route)


def _request_hook(span: Any, request: Any) -> None:
    try:
        if span is not None and span.is_recording():
            _scrub(span, request)
    except Exception:  # telemetry never fails a request
        log.debug("httpx request hook failed", exc_info=True)


def _response_hook(span: Any, request: Any, response: Any) -> None:
    try:
        if span is None or not span.is_recording():
            return
        _scrub(span, request)
        # The instrumentation passes (status, headers, stream, extensions) or an httpx.Response.
        headers = response[1] if isinstance(response, tuple) else response.headers.raw
        for name, value in headers:
            key = name.decode().lower() if isinstance(name, bytes) else str(name).lower()
            if key in ("request-id", "client-request-id"):
                text = value.decode() if isinstance(value, bytes) else str(value)
                span.set_attribute("graph." + key.replace("-", "_"), text)
    except Exception:  # telemetry never fails a request
        log.debug("httpx response hook failed", exc_info=True)


async def _async_request_hook(span: Any, request: Any) -> None:
    _request_hook(span, request)


async def _async_response_hook(span: Any, request: Any, response: Any) -> None:
    _response_hook(span, request, response)


# msgraph-sdk's kiota layers open ~10 spans of their own per request (one per middleware,
# serialisation, token) with "EUII" attributes -- full URLs and query strings that can name a
# person -- on by default (kiota_http ObservabilityOptions(include_euii_attributes=True)), and
# their `enabled` flag does not stop the spans. Their module tracers are replaced by no-op ones;
# the httpx span of each attempt (scrubbed above) stays, under the caller's span.
_KIOTA_TRACERS = (
    "kiota_http.httpx_request_adapter",
    "kiota_http.middleware.middleware",
    "kiota_abstractions.request_information",
    "kiota_authentication_azure.azure_identity_access_token_provider",
)


def _silence_kiota() -> None:
    import importlib

    from opentelemetry.trace import NoOpTracer

    for name in _KIOTA_TRACERS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for attr in ("tracer", "_tracer"):
            if hasattr(module, attr):
                setattr(module, attr, NoOpTracer())


def instrument() -> None:
    """Turn on httpx client spans once per process (clients built afterwards are traced)."""
    global _instrumented
    if _instrumented:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    _silence_kiota()

    HTTPXClientInstrumentor().instrument(
        request_hook=_request_hook,
        response_hook=_response_hook,
        async_request_hook=_async_request_hook,
        async_response_hook=_async_response_hook,
    )
    _instrumented = True


def graph_response(request: httpx.Request, status: int) -> None:
    """Count one Graph request by route and status (called for every attempt, retries included)."""
    route = route_of(request.url.path)
    count("cts.graph.requests", route=f"{request.method} {route}", status=status)
    if status == 429:
        count("cts.graph.throttled", route=f"{request.method} {route}")

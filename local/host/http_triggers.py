"""HTTP triggers as an ASGI (Starlette) app: ``/{routePrefix}/{route}`` → `func.HttpRequest` → function.

Also serves ``GET /`` and ``GET /admin/host/status`` (host state, the latter needs the master key
as in Azure) and mounts the durable engine's management API under
``/runtime/webhooks/durabletask`` when the app uses Durable Functions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import azure.functions as func
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from local.host.invoke import Invoker
from local.host.keys import HostKeys
from local.host.loader import FunctionSpec
from local.host.routes import RouteTemplate

log = logging.getLogger("local.host")

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def to_http_request(request: Request, body: bytes, route_params: dict[str, str]) -> func.HttpRequest:
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    params: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        params[key] = f"{params[key]},{value}" if key in params else value
    return func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=headers,
        params=params,
        route_params=route_params,
        body=body,
    )


def to_response(result: Any) -> Response:
    """Convert what an HTTP function returned, as the worker's HttpResponseConverter does."""
    if result is None:
        return Response(status_code=204)
    if isinstance(result, str):
        return PlainTextResponse(result)
    if isinstance(result, func.HttpResponse):
        headers = {k: v for k, v in result.headers.items()}
        if not any(k.lower() == "content-type" for k in headers):
            mimetype = result.mimetype or "text/plain"
            headers["content-type"] = (
                f"{mimetype}; charset={result.charset}" if mimetype.startswith("text/") else mimetype
            )
        return Response(result.get_body() or b"", status_code=result.status_code, headers=headers)
    raise TypeError(f"an HTTP function must return func.HttpResponse or str, not {type(result).__name__}")


class HttpTriggers:
    """Routes requests to the app's HTTP functions (most specific route template first)."""

    def __init__(
        self,
        functions: list[FunctionSpec],
        keys: HostKeys,
        invoker: Invoker,
        *,
        route_prefix: str = "api",
        executor: Executor | None = None,
    ) -> None:
        self.routes = sorted(
            ((RouteTemplate.parse(f.route), f) for f in functions), key=lambda pair: pair[0].precedence
        )
        self.keys = keys
        self.invoker = invoker
        self.route_prefix = route_prefix.strip("/")
        self.executor = executor
        self.accepting = True

    def url_path(self, spec: FunctionSpec) -> str:
        return "/" + "/".join(p for p in (self.route_prefix, spec.route) if p)

    async def dispatch(self, request: Request) -> Response:
        if not self.accepting:
            return PlainTextResponse("host is shutting down", status_code=503)
        path = request.path_params.get("path", "")
        path_matched = False
        for template, spec in self.routes:
            route_params = template.match(path)
            if route_params is None:
                continue
            path_matched = True
            if spec.methods is not None and request.method not in spec.methods:
                continue
            presented = request.query_params.get("code") or request.headers.get("x-functions-key")
            if not self.keys.authorizes(spec.auth_level, spec.name, presented):
                return PlainTextResponse(
                    "Unauthorized: a function key is required (?code=KEY or the x-functions-key header)",
                    status_code=401,
                )
            body = await request.body()
            try:
                result = await self.invoker.invoke(
                    spec,
                    to_http_request(request, body, route_params),
                    reason="HTTP request",
                    executor=self.executor,
                    details={"method": request.method, "path": request.url.path},
                    trace_carrier=dict(request.headers),
                )
                return to_response(result)
            except Exception:  # logged by the invoker; Azure answers a bare 500
                return PlainTextResponse("Internal Server Error", status_code=500)
        if path_matched:
            return PlainTextResponse("Method Not Allowed", status_code=405)
        return PlainTextResponse("Not Found", status_code=404)


def build_asgi_app(
    triggers: HttpTriggers,
    *,
    durable_app: Any | None = None,
    state: Callable[[], str] = lambda: "Running",
    workers: Callable[[], Any] = lambda: None,
) -> Starlette:
    async def root(request: Request) -> Response:
        # `workers`: with FUNCTIONS_WORKER_PROCESS_COUNT > 1, each process's pid and invocations.
        found = workers()
        return JSONResponse({"state": state()} if found is None else {"state": state(), "workers": found})

    async def host_status(request: Request) -> Response:
        presented = request.query_params.get("code") or request.headers.get("x-functions-key")
        if not triggers.keys.authorizes("admin", "", presented):
            return PlainTextResponse("Unauthorized", status_code=401)
        return JSONResponse({"state": state(), "functions": [s.name for _, s in triggers.routes]})

    async def keys_api(request: Request) -> Response:
        """The key management API (master key only), as the Azure host serves it."""
        presented = request.query_params.get("code") or request.headers.get("x-functions-key")
        if not triggers.keys.authorizes("admin", "", presented):
            return PlainTextResponse("Unauthorized", status_code=401)
        function = request.path_params.get("function")
        if function is not None and function not in {s.name for _, s in triggers.routes}:
            return PlainTextResponse("Not Found", status_code=404)
        name = request.path_params.get("name")
        keys = triggers.keys
        try:
            if request.method == "PUT" and name:
                body = json.loads(await request.body() or b"{}")
                value = keys.set_key(function, name, body.get("value") if isinstance(body, dict) else None)
            elif request.method == "DELETE" and name:
                if not keys.delete_key(function, name):
                    return PlainTextResponse("Not Found", status_code=404)
                keys.persist()
                return Response(status_code=204)
            elif request.method == "GET" and not name:
                listed = [{"name": k, "value": v} for k, v in keys.named_keys(function).items()]
                return JSONResponse({"keys": listed})
            else:
                return PlainTextResponse("Method Not Allowed", status_code=405)
        except (ValueError, json.JSONDecodeError) as exc:
            return PlainTextResponse(str(exc), status_code=400)
        keys.persist()
        return JSONResponse({"name": name, "value": value}, status_code=200)

    routes: list[BaseRoute] = [
        Route("/", root, methods=["GET"]),
        Route("/admin/host/status", host_status, methods=["GET"]),
        Route("/admin/host/keys", keys_api, methods=["GET"]),
        Route("/admin/host/keys/{name}", keys_api, methods=["PUT", "DELETE"]),
        Route("/admin/functions/{function}/keys", keys_api, methods=["GET"]),
        Route("/admin/functions/{function}/keys/{name}", keys_api, methods=["PUT", "DELETE"]),
    ]
    if durable_app is not None:
        routes.append(Mount("/runtime/webhooks/durabletask", app=durable_app))
    prefix = f"/{triggers.route_prefix}" if triggers.route_prefix else ""
    routes.append(Route(prefix + "/{path:path}", triggers.dispatch, methods=ALL_METHODS))
    if prefix:
        routes.append(Route(prefix, triggers.dispatch, methods=ALL_METHODS))
    return Starlette(routes=routes)

"""The ASGI app: ``create_app(db_path, ...)`` builds a Graph sandbox on a SQLite tenant file.

Graph routes live under ``/v1.0`` (and ``/beta`` for the few beta calls); the side channel for
tests and demos lives under ``/_sandbox`` (see ``sidechannel.py``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import (
    batch,
    channels,
    delta,
    files,
    licences,
    members,
    planner,
    sidechannel,
    subscriptions,
    tabs,
    tags,
    teams,
    todo,
    users,
)
from .core import Config, Router, Sandbox, normalise_path
from .errors import GraphError, error_body
from .notifier import Notifier
from .store import Store
from .wire import Req, Resp

JSON_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)
METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]


def build_router() -> Router:
    router = Router()
    for module in (
        users,
        licences,
        delta,
        teams,
        members,
        channels,
        tabs,
        files,
        planner,
        todo,
        subscriptions,
        tags,
        batch,
    ):
        module.register(router)
    return router


def to_http(resp: Resp) -> Response:
    if resp.body is None:
        return Response(status_code=resp.status, headers=resp.headers)
    if isinstance(resp.body, str):
        return Response(resp.body, status_code=resp.status, headers=resp.headers, media_type="text/plain")
    content = json.dumps(resp.body, separators=(",", ":"))
    return Response(content, status_code=resp.status, headers=resp.headers, media_type=JSON_TYPE)


def create_app(
    db_path: str,
    *,
    token: str = "sandbox-token",
    scale: float = 1.0,
    async_delay: float = 0.2,
    lag: float = 0.0,
    throttle: bool = True,
) -> Starlette:
    """A Graph sandbox app on the tenant stored in ``db_path`` (created if missing).

    ``scale`` multiplies every sandbox duration (async operations, lag, throttling windows,
    notification retry backoff); ``async_delay`` is the seconds a teamsAsyncOperation takes;
    ``lag`` the seconds a new team/member stays invisible (eventual consistency);
    ``throttle=False`` turns the Graph-shaped token buckets off (injected 429s still apply).
    """
    store = Store(db_path)
    sb = Sandbox(
        store,
        Config(token=token, scale=scale, async_delay=async_delay, lag=lag, throttle=throttle),
        build_router(),
    )
    notifier = sb.notifier = Notifier(sb)

    async def graph(request: Request) -> Response:
        version = request.url.path.split("/", 2)[1]
        req = Req(
            method=request.method,
            path=normalise_path(request.path_params["path"]),
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=None,
            base=f"{str(request.base_url).rstrip('/')}/{version}",
        )
        auth = req.header("authorization") or ""
        if auth != f"Bearer {sb.config.token}":
            # https://learn.microsoft.com/graph/errors : 401 InvalidAuthenticationToken
            message = (
                "Access token is empty." if not auth else "Access token validation failure. Invalid audience."
            )
            sb.counters.record("AUTH 401", 401)
            body = error_body(
                "InvalidAuthenticationToken", message, "sandbox", req.header("client-request-id")
            )
            return to_http(Resp(401, body))
        raw = await request.body()
        if raw:
            try:
                req.body = json.loads(raw)
            except json.JSONDecodeError:
                err = GraphError(400, "BadRequest", "Unable to read JSON request payload.")
                return to_http(Resp(400, error_body(err.code, err.message, "sandbox", None)))
        return to_http(await sb.dispatch(req))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        await notifier.start()
        try:
            yield {}
        finally:
            await notifier.stop()
            store.close()

    routes = [
        Route("/v1.0/{path:path}", graph, methods=METHODS),
        Route("/beta/{path:path}", graph, methods=METHODS),
        *sidechannel.routes(sb),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sandbox = sb
    return app

"""The side channel under ``/_sandbox`` (not Graph): seed, counters, faults, acting as a person.

Routes (JSON in, JSON out; no auth):
- ``POST /_sandbox/seed`` ``{"users": [...]}`` → ``{"users": [...with ids]}``
- ``GET /_sandbox/counters`` / ``POST /_sandbox/reset-counters``
- ``POST /_sandbox/faults`` ``{"route", "status", "error_rate", "throttle_ratio", "latency_ms",
  "retry_after", "seconds"}``; ``DELETE /_sandbox/faults`` clears them
- ``POST /_sandbox/act/{action}`` — act as a person in Teams/Planner (see ``act.py``)
- ``POST /_sandbox/lifecycle`` ``{"subscriptionId", "lifecycleEvent"}``
- ``POST /_sandbox/expire-delta-tokens`` — every issued delta token answers 410 from now on
- ``POST /_sandbox/drain`` — wait for pending notification deliveries
- ``GET /_sandbox/state`` — dump of the tenant
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .core import Sandbox
from .errors import GraphError
from .users import seed_users
from .wire import public


def routes(sb: Sandbox) -> list[Route]:
    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        return json.loads(raw) if raw else {}

    def fail(err: GraphError) -> Response:
        return JSONResponse({"error": {"code": err.code, "message": err.message}}, status_code=err.status)

    async def seed(request: Request) -> Response:
        data = await body(request)
        try:
            users = seed_users(sb, data.get("users", []))
        except GraphError as err:
            return fail(err)
        return JSONResponse({"users": [public(u) for u in users]})

    async def counters(request: Request) -> Response:
        return JSONResponse(sb.counters.snapshot())

    async def reset_counters(request: Request) -> Response:
        sb.counters.reset()
        if sb.notifier:
            sb.notifier.endpoints.clear()
        return Response(status_code=204)

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            sb.faults.clear()
            return Response(status_code=204)
        data = await body(request)
        specs = data if isinstance(data, list) else [data]
        return JSONResponse({"faults": [vars(sb.faults.set(s)) for s in specs]}, status_code=201)

    async def act(request: Request) -> Response:
        from .act import ACTIONS

        action = request.path_params["action"]
        handler = ACTIONS.get(action)
        if handler is None:
            return JSONResponse(
                {"error": {"code": "UnknownAction", "message": f"Known: {sorted(ACTIONS)}"}}, status_code=404
            )
        try:
            result = handler(sb, await body(request))
        except GraphError as err:
            return fail(err)
        return JSONResponse(public(result) if isinstance(result, dict) else {"result": result})

    async def lifecycle(request: Request) -> Response:
        data = await body(request)
        sub = sb.store.get("subscription", str(data.get("subscriptionId")))
        if sub is None:
            return JSONResponse(
                {"error": {"code": "NotFound", "message": "Unknown subscription."}}, status_code=404
            )
        event = data.get("lifecycleEvent", "reauthorizationRequired")
        if event not in ("reauthorizationRequired", "subscriptionRemoved", "missed"):
            return JSONResponse(
                {"error": {"code": "BadRequest", "message": f"Unknown lifecycleEvent {event}."}},
                status_code=400,
            )
        assert sb.notifier is not None
        sb.notifier.lifecycle(sub, event)
        if event == "subscriptionRemoved":
            sb.store.remove("subscription", sub["id"])
        return JSONResponse({"sent": event, "subscriptionId": sub["id"]}, status_code=202)

    async def expire_delta(request: Request) -> Response:
        epoch = int(sb.store.meta("deltaEpoch") or "0") + 1
        sb.store.set_meta("deltaEpoch", str(epoch))
        return JSONResponse({"deltaEpoch": epoch})

    async def drain(request: Request) -> Response:
        if sb.notifier:
            await sb.notifier.drain(float(request.query_params.get("timeout", "10")))
        return JSONResponse({"pending": len(sb.notifier.tasks) if sb.notifier else 0})

    async def state(request: Request) -> Response:
        return JSONResponse({"tenantId": sb.tenant_id, "objects": sb.store.dump()})

    return [
        Route("/_sandbox/seed", seed, methods=["POST"]),
        Route("/_sandbox/counters", counters, methods=["GET"]),
        Route("/_sandbox/reset-counters", reset_counters, methods=["POST"]),
        Route("/_sandbox/faults", faults, methods=["POST", "DELETE"]),
        Route("/_sandbox/act/{action}", act, methods=["POST"]),
        Route("/_sandbox/lifecycle", lifecycle, methods=["POST"]),
        Route("/_sandbox/expire-delta-tokens", expire_delta, methods=["POST"]),
        Route("/_sandbox/drain", drain, methods=["POST"]),
        Route("/_sandbox/state", state, methods=["GET"]),
    ]

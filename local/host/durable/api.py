"""The Durable extension's HTTP management API, as the SDK's DurableOrchestrationClient uses it.

Served under ``/runtime/webhooks/durabletask``; the binding's ``rpcBaseUrl`` points there too
(the extension serves the same handler on a separate local RPC port). Routes, status codes and
bodies follow the extension's HttpApiHandler:

- ``POST orchestrators/{name}[/{id}]`` → 202 + management payload; 400 unknown orchestrator
  (``ExceptionMessage``); 409 when the instance id is Pending/Running.
- ``GET instances/{id}`` → 200 Completed/Failed/Terminated, 202 Pending/Running, 404 unknown.
- ``GET instances/`` (filters: runtimeStatus, createdTimeFrom/To, instanceIdPrefix, showInput).
- ``POST instances/{id}/raiseEvent/{name}`` → 202, 404, 410 (finished), 400 (not JSON).
- ``POST instances/{id}/terminate?reason=`` → 202, 404, 410.
- ``DELETE instances/{id}`` → 200 ``{"instancesDeleted": 1}``, 404, 412 (not finished).
- ``DELETE instances/?createdTimeFrom=..`` → 200 or 404 (nothing purged).
No key is required (the local host is for one machine); suspend/resume/rewind/restart and
entities answer 501 with a message.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.host.durable.errors import (
    InstanceAlreadyRunning,
    InstanceGone,
    InstanceNotFound,
    InstanceNotTerminal,
    OrchestratorNotFound,
)
from local.host.durable.history import fmt, parse
from local.host.durable.store import TERMINAL

if TYPE_CHECKING:
    from local.host.durable.engine import DurableEngine

WEBHOOK_PATH = "/runtime/webhooks/durabletask"
_PLACEHOLDER = "INSTANCEID"


def management_urls(base_url: str, hub: str, instance_id: str) -> dict[str, str]:
    """HttpApiHandler.GetClientResponseLinks: the URLs a check-status response carries."""
    prefix = f"{base_url}{WEBHOOK_PATH}/instances/{quote(instance_id, safe='')}"
    query = f"taskHub={quote(hub)}&connection=Storage"
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{prefix}?{query}",
        "sendEventPostUri": f"{prefix}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{prefix}/terminate?reason={{text}}&{query}",
        "rewindPostUri": f"{prefix}/rewind?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{prefix}?{query}",
        "restartPostUri": f"{prefix}/restart?{query}",
        "suspendPostUri": f"{prefix}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{prefix}/resume?reason={{text}}&{query}",
    }


def client_binding_json(base_url: str, hub: str) -> str:
    """What the extension passes as the ``durableClient`` binding (DurableOrchestrationBindings)."""
    base = base_url.rstrip("/")
    webhook = f"{base}{WEBHOOK_PATH}"
    creation = f"{webhook}/orchestrators/{{functionName}}[/{{instanceId}}]"
    return json.dumps(
        {
            "taskHubName": hub,
            "creationUrls": {
                "createNewInstancePostUri": f"{creation}?",
                "createAndWaitOnNewInstancePostUri": (
                    f"{creation}?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&"
                ),
            },
            "managementUrls": management_urls(base, hub, _PLACEHOLDER),
            "baseUrl": webhook,
            "requiredQueryStringParameters": "",
            "rpcBaseUrl": f"{webhook}/",
            "httpBaseUrl": "",
        }
    )


def _token_text(raw: bytes) -> str | None:
    """The request body as the JSON token the extension would store (None when empty)."""
    text = raw.decode("utf-8").strip()
    if not text:
        return None
    json.loads(text)  # ValueError → 400
    return text


def _event_payload(raw: bytes) -> str | None:
    """The event data as the JSON text the SDK decodes (``df_loads``) in the orchestrator.

    The SDK client posts ``json.dumps(data)`` as a JSON *string*; a plain JSON body is taken as is.
    """
    text = raw.decode("utf-8").strip()
    if not text:
        return None
    token = json.loads(text)
    if isinstance(token, str):
        try:
            json.loads(token)
            return token
        except ValueError:
            pass
    return json.dumps(token)


def _bool(request: Request, name: str, default: bool) -> bool:
    value = request.query_params.get(name)
    return default if value is None else value.strip().lower() == "true"


def _statuses(request: Request) -> list[str]:
    values = request.query_params.getlist("runtimeStatus")
    return [s.strip() for v in values for s in v.split(",") if s.strip()]


def _time(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return fmt(parse(value)) if value else None


def management_app(engine: DurableEngine) -> Starlette:
    def origin(request: Request) -> str:
        return engine.base_url or f"{request.url.scheme}://{request.url.netloc}"

    async def start(request: Request) -> Response:
        name = request.path_params["name"]
        instance_id = request.path_params.get("instance_id") or None
        try:
            token = _token_text(await request.body())
            instance_id = engine.start_new_raw(name, instance_id, token)
        except ValueError as exc:
            if isinstance(exc, OrchestratorNotFound):
                return JSONResponse(
                    {
                        "Message": "One or more of the arguments submitted is incorrect",
                        "ExceptionMessage": str(exc),
                        "ExceptionType": "System.ArgumentException",
                    },
                    400,
                )
            return JSONResponse({"Message": "Invalid JSON content", "ExceptionMessage": str(exc)}, 400)
        except InstanceAlreadyRunning as exc:
            return JSONResponse({"Message": str(exc)}, 409)
        payload = management_urls(origin(request), engine.hub_name, instance_id)
        return JSONResponse(
            payload, 202, headers={"Location": payload["statusQueryGetUri"], "Retry-After": "10"}
        )

    async def get_instance(request: Request) -> Response:
        instance_id = request.path_params["instance_id"]
        status = engine.status_of(
            instance_id,
            show_history=_bool(request, "showHistory", False),
            show_input=_bool(request, "showInput", True),
            show_history_output=_bool(request, "showHistoryOutput", False),
        )
        if status is None:
            # The SDK parses any body into a DurableOrchestrationStatus; a message keeps it falsy.
            return JSONResponse(f"No instance with ID '{instance_id}' found.", 404)
        runtime = status["runtimeStatus"]
        if runtime in TERMINAL:
            failed_500 = runtime == "Failed" and _bool(request, "returnInternalServerErrorOnFailure", False)
            return JSONResponse(status, 500 if failed_500 else 200)
        return JSONResponse(status, 202, headers={"Location": str(request.url), "Retry-After": "5"})

    async def list_instances(request: Request) -> Response:
        top = request.query_params.get("top")
        found = engine.list_status(
            _statuses(request),
            _time(request, "createdTimeFrom"),
            _time(request, "createdTimeTo"),
            request.query_params.get("instanceIdPrefix"),
            _bool(request, "showInput", True),
            limit=int(top) if top and top.isdigit() else None,  # read no more than that
        )
        return JSONResponse(found, 200)

    async def purge_instance(request: Request) -> Response:
        instance_id = request.path_params["instance_id"]
        try:
            deleted = await engine.purge(instance_id)
        except InstanceNotTerminal as exc:
            return JSONResponse(str(exc), 412)
        if not deleted:
            return JSONResponse(f"No instance with ID '{instance_id}' found.", 404)
        return JSONResponse({"instancesDeleted": deleted}, 200)

    async def purge_many(request: Request) -> Response:
        created_from = _time(request, "createdTimeFrom")
        if created_from is None:
            return JSONResponse("Please provide value for 'createdTimeFrom' parameter.", 400)
        created_to = _time(request, "createdTimeTo")
        deleted = await engine.purge_by(
            parse(created_from), parse(created_to) if created_to else None, _statuses(request) or None
        )
        if not deleted:
            return JSONResponse({"instancesDeleted": 0}, 404)
        return JSONResponse({"instancesDeleted": deleted}, 200)

    async def raise_event(request: Request) -> Response:
        instance_id, name = request.path_params["instance_id"], request.path_params["event"]
        status = engine.status_of(instance_id)
        if status is None:
            return JSONResponse(f"No instance with ID '{instance_id}' found.", 404)
        if status["runtimeStatus"] in TERMINAL:
            return Response(status_code=410)
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return JSONResponse({"Message": "Only application/json request content is supported"}, 400)
        try:
            data = _event_payload(await request.body())
            engine.raise_event_raw(instance_id, name, data)
        except ValueError as exc:
            return JSONResponse({"Message": "Invalid JSON content", "ExceptionMessage": str(exc)}, 400)
        except InstanceGone:
            return Response(status_code=410)
        return Response(status_code=202)

    async def operation(request: Request) -> Response:
        instance_id, op = request.path_params["instance_id"], request.path_params["operation"].lower()
        if op != "terminate":
            return JSONResponse({"Message": f"'{op}' is not supported by the local durable engine"}, 501)
        try:
            await engine.terminate(instance_id, request.query_params.get("reason"))
        except InstanceNotFound:
            return Response(status_code=404)
        except InstanceGone:
            return Response(status_code=410)
        return Response(status_code=202)

    async def entities(request: Request) -> Response:
        return JSONResponse(
            {"Message": "durable entities are not supported by the local durable engine"}, 501
        )

    routes = [
        Route("/orchestrators/{name}", start, methods=["POST"]),
        Route("/orchestrators/{name}/", start, methods=["POST"]),
        Route("/orchestrators/{name}/{instance_id}", start, methods=["POST"]),
        Route("/instances", list_instances, methods=["GET"]),
        Route("/instances/", list_instances, methods=["GET"]),
        Route("/instances", purge_many, methods=["DELETE"]),
        Route("/instances/", purge_many, methods=["DELETE"]),
        Route("/instances/{instance_id}", get_instance, methods=["GET"]),
        Route("/instances/{instance_id}", purge_instance, methods=["DELETE"]),
        Route("/instances/{instance_id}/raiseEvent/{event}", raise_event, methods=["POST"]),
        Route("/instances/{instance_id}/{operation}", operation, methods=["POST"]),
        Route("/entities/{rest:path}", entities, methods=["GET", "POST", "DELETE"]),
    ]
    return Starlette(routes=routes)

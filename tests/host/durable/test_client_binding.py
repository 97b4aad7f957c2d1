"""Client code using the SDK's DurableOrchestrationClient against the engine's management API."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import azure.durable_functions as df
import azure.functions as func
import pytest
import uvicorn
from azure.durable_functions.models.utils import http_utils
from starlette.applications import Starlette
from starlette.routing import Mount

from local.host.durable import DurableEngine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def base_url(engine: DurableEngine) -> AsyncIterator[str]:
    port = _free_port()
    app = Starlette(routes=[Mount("/runtime/webhooks/durabletask", app=engine.asgi_app())])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await http_utils._close_session()  # the SDK's shared aiohttp session is bound to this loop
        server.should_exit = True
        await task


async def client_code(binding: str) -> dict[str, object]:
    """What a trigger with ``client: df.DurableOrchestrationClient`` does, unchanged."""
    client = df.DurableOrchestrationClient(binding)
    seen: dict[str, object] = {}
    missing = await client.get_status("nobody")
    seen["missing"] = (bool(missing), missing.runtime_status)
    instance_id = await client.start_new("with_status", "client-1", {"hello": "world"})
    try:
        await client.start_new("with_status", "client-1")
    except Exception as exc:
        seen["duplicate"] = str(exc)
    for _ in range(200):
        status = await client.get_status(instance_id)
        if status.custom_status:
            break
        await asyncio.sleep(0.01)
    seen["running"] = (status.runtime_status, status.custom_status, status.input_)
    await client.raise_event(instance_id, "Go", {"go": True})
    for _ in range(200):
        status = await client.get_status(instance_id, show_history=True)
        if status.runtime_status == df.OrchestrationRuntimeStatus.Completed:
            break
        await asyncio.sleep(0.01)
    seen["completed"] = (status.runtime_status, status.output, len(status.historyEvents))  # type: ignore[attr-defined]
    try:
        await client.raise_event(instance_id, "Go", 1)
    except Exception as exc:
        seen["gone"] = str(exc)
    second = await client.start_new("with_status", None, None)
    await client.terminate(second, "stop now")
    for _ in range(200):
        status = await client.get_status(second)
        if status.runtime_status == df.OrchestrationRuntimeStatus.Terminated:
            break
        await asyncio.sleep(0.01)
    seen["terminated"] = (status.runtime_status, status.output)
    listed = await client.get_status_by(runtime_status=[df.OrchestrationRuntimeStatus.Terminated])
    seen["listed"] = [s.instance_id for s in listed]
    seen["purged"] = (await client.purge_instance_history(instance_id)).instances_deleted
    seen["purged_again"] = (await client.purge_instance_history(instance_id)).instances_deleted
    purged_by = await client.purge_instance_history_by(
        created_time_from=datetime.now(UTC) - timedelta(hours=1),
        runtime_status=[df.OrchestrationRuntimeStatus.Terminated],
    )
    seen["purged_by"] = purged_by.instances_deleted
    request = func.HttpRequest("POST", "http://example.test/api/start", body=b"")
    response = client.create_check_status_response(request, "client-1")
    seen["check_status"] = (response.status_code, json.loads(response.get_body()))
    return seen


async def test_durable_client_runs_unchanged_against_the_engine(engine: DurableEngine, base_url: str) -> None:
    seen = await client_code(engine.client_binding_json(base_url))

    assert seen["missing"] == (False, None)
    assert "already exists" in str(seen["duplicate"])
    assert seen["running"] == (
        df.OrchestrationRuntimeStatus.Running,
        {"stage": "waiting"},
        '{"hello": "world"}',
    )
    status, output, history_length = seen["completed"]  # type: ignore[misc]
    assert (status, output) == (df.OrchestrationRuntimeStatus.Completed, {"go": True})
    assert history_length >= 3
    assert "is gone" in str(seen["gone"])
    assert seen["terminated"] == (df.OrchestrationRuntimeStatus.Terminated, "stop now")
    assert len(seen["listed"]) == 1  # type: ignore[arg-type]
    assert (seen["purged"], seen["purged_again"], seen["purged_by"]) == (1, 0, 1)
    code, payload = seen["check_status"]  # type: ignore[misc]
    assert code == 202
    assert payload["id"] == "client-1"
    assert payload["statusQueryGetUri"].startswith(
        "http://example.test/runtime/webhooks/durabletask/instances/client-1?"
    )
    assert "/raiseEvent/{eventName}?" in payload["sendEventPostUri"]


async def test_unknown_orchestrator_error_reaches_the_client(engine: DurableEngine, base_url: str) -> None:
    client = df.DurableOrchestrationClient(engine.client_binding_json(base_url))
    with pytest.raises(Exception, match="'missing' doesn't exist, is disabled, or is not an orchestrator"):
        await client.start_new("missing")


async def test_listing_instances_with_top_returns_the_first_that_many(
    engine: DurableEngine, base_url: str
) -> None:
    import httpx

    for n in range(3):
        await engine.start_new("approval", f"listed-{n}", {"timeout_ms": 600_000})  # stays Running
    url = f"{base_url}/runtime/webhooks/durabletask/instances"
    async with httpx.AsyncClient() as http:
        every = (await http.get(url, params={"runtimeStatus": "Running,Pending"})).json()
        first = (await http.get(url, params={"runtimeStatus": "Running,Pending", "top": "2"})).json()
    assert [i["instanceId"] for i in every] == ["listed-0", "listed-1", "listed-2"]
    assert [i["instanceId"] for i in first] == ["listed-0", "listed-1"]

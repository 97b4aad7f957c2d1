"""Argument binding like the Python worker: durable client, context, output bindings, sync/async."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from local.host.invoke import Invoker
from local.host.loader import index_app

CLIENT_BINDING = json.dumps(
    {
        "taskHubName": "hub",
        "creationUrls": {"createNewInstancePostUri": "http://127.0.0.1:7071/runtime/webhooks/durabletask/x"},
        "managementUrls": {"id": "INSTANCEID", "statusQueryGetUri": "http://127.0.0.1:7071/s"},
        "baseUrl": "http://127.0.0.1:7071/runtime/webhooks/durabletask",
        "requiredQueryStringParameters": "",
        "rpcBaseUrl": "http://127.0.0.1:7071/runtime/webhooks/durabletask/",
    }
)


def specs_of(app: Any) -> dict[str, Any]:
    return {s.name: s for s in index_app(app)}


async def test_durable_client_input_arrives_as_the_sdk_client_and_context_is_passed() -> None:
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    seen: dict[str, Any] = {}

    @app.route(route="start")
    @app.durable_client_input(client_name="client")
    async def start(
        req: func.HttpRequest, client: df.DurableOrchestrationClient, context: func.Context
    ) -> func.HttpResponse:
        seen.update(client=client, invocation_id=context.invocation_id, name=context.function_name)
        return func.HttpResponse(client._orchestration_bindings.task_hub_name)

    invoker = Invoker(
        function_directory=".", executor=ThreadPoolExecutor(1), durable_client_json=lambda: CLIENT_BINDING
    )
    request = func.HttpRequest("GET", "http://127.0.0.1/api/start", body=b"")
    response = await invoker.invoke(specs_of(app)["start"], request, reason="test")
    assert response.get_body() == b"hub"
    assert isinstance(seen["client"], df.DurableOrchestrationClient)
    assert seen["name"] == "start" and len(seen["invocation_id"]) == 36


async def test_sync_functions_run_in_the_pool_and_outputs_are_sent_after_success() -> None:
    app = func.FunctionApp()
    threads: list[str] = []

    @app.service_bus_queue_trigger(arg_name="msg", queue_name="in", connection="C")
    @app.service_bus_queue_output(arg_name="out", queue_name="out", connection="C")
    def relay(msg: str, out: func.Out[str]) -> None:
        threads.append(threading.current_thread().name)
        out.set([{"n": 1}, "two"])

    sent: list[tuple[str, Any]] = []

    async def send(entity: str, messages: Any) -> None:
        sent.append((entity, [m.body for m in messages]))

    invoker = Invoker(
        function_directory=".", executor=ThreadPoolExecutor(1, thread_name_prefix="pool"), send_messages=send
    )
    await invoker.invoke(specs_of(app)["relay"], "ignored", reason="test")
    assert threads[0].startswith("pool")
    assert sent == [("out", [b'{"n": 1}', b"two"])]

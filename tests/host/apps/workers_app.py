"""Test-only function app for FUNCTIONS_WORKER_PROCESS_COUNT: every function says which process
ran it (its pid), so tests can see invocations spread over the worker processes."""

import json
import logging
import os
import time
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func
from opentelemetry import trace

app = df.DFApp()
log = logging.getLogger("workers_app")


@app.service_bus_queue_trigger(arg_name="msg", queue_name="work", connection="ServiceBusConnection")
@app.service_bus_queue_output(arg_name="out", queue_name="done", connection="ServiceBusConnection")
async def work(msg: func.ServiceBusMessage, out: func.Out[str], context: func.Context) -> None:
    body = msg.get_body().decode()
    if body == "poison":
        raise ValueError("cannot process poison")
    if body.startswith("slow"):
        time.sleep(0.3)  # noqa: ASYNC251 -- holds this process, so the next messages go to another
    with trace.get_tracer("workers_app").start_as_current_span("app work", attributes={"body": body}):
        log.info("worked on %s", body)
    out.set(json.dumps({"body": body, "pid": os.getpid(), "invocation_id": context.invocation_id}))


@app.service_bus_queue_trigger(arg_name="msg", queue_name="done", connection="ServiceBusConnection")
def done(msg: func.ServiceBusMessage) -> None:
    with Path(os.environ["WORKERS_LOG"]).open("a") as f:
        f.write(json.dumps({**json.loads(msg.get_body()), "recorded_by": os.getpid()}) + "\n")


@app.orchestration_trigger(context_name="context")
def spread(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    count = context.get_input()["count"]
    pids = yield context.task_all([context.call_activity("whoami", n) for n in range(count)])
    return pids


@app.activity_trigger(input_name="n")
def whoami(n: int) -> dict:
    time.sleep(0.05)  # in the process's thread pool
    return {"n": n, "pid": os.getpid()}


@app.orchestration_trigger(context_name="context")
def failing(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    try:
        yield context.call_activity("explode", "boom")
    except Exception as exc:  # the activity's failure, as the SDK raises it
        return {"failed": str(exc)}
    return {"failed": None}


@app.activity_trigger(input_name="what")
def explode(what: str) -> str:
    raise KeyError(f"no such thing: {what}")

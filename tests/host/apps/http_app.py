"""Test-only function app: HTTP triggers (every auth level, sync and async) and timers."""

import asyncio
import json
import os
import time
from pathlib import Path

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="orders/{store}/{order:int}", methods=["POST", "PUT"], auth_level=func.AuthLevel.ANONYMOUS)
def echo(req: func.HttpRequest) -> func.HttpResponse:
    document = {
        "method": req.method,
        "route": dict(req.route_params),
        "query": dict(req.params),
        "body": req.get_json() if req.get_body() else None,
        "header": req.headers.get("x-test"),
        "url": req.url,
    }
    return func.HttpResponse(
        json.dumps(document), status_code=201, mimetype="application/json", headers={"x-echo": "yes"}
    )


@app.route(route="secret")
async def secret(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    await asyncio.sleep(0)
    return func.HttpResponse(f"hello from {context.function_name}")


@app.route(route="master-only", auth_level=func.AuthLevel.ADMIN)
def master_only(req: func.HttpRequest) -> str:
    return "master ok"


@app.route(route="slow", auth_level=func.AuthLevel.ANONYMOUS)
def slow(req: func.HttpRequest) -> func.HttpResponse:
    time.sleep(float(req.params.get("seconds", "1")))
    return func.HttpResponse("done")


@app.route(route="boom", auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom")


def _record(name: str, timer: func.TimerRequest) -> None:
    out = Path(os.environ["TIMER_LOG"])
    with out.open("a") as f:
        f.write(json.dumps({"name": name, "past_due": timer.past_due, "at": time.time()}) + "\n")


@app.timer_trigger(schedule="%STARTUP_SCHEDULE%", arg_name="timer", run_on_startup=True)
def on_startup(timer: func.TimerRequest) -> None:
    _record("on_startup", timer)


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer")  # once a year: fires only when past due
def yearly(timer: func.TimerRequest) -> None:
    _record("yearly", timer)


@app.timer_trigger(schedule="* * * * * *", arg_name="timer")  # every second, slower than that
def every_second(timer: func.TimerRequest) -> None:
    _record("every_second", timer)
    time.sleep(1.5)

"""Test-only durable function app for the crash test.

A Service Bus message (an order) starts one orchestration per order through the durable client
(instance id from the order id, so a redelivered message starts nothing new); the orchestration
fans out to idempotent activities that write one row per part into a SQLite file, then records
the order as done. `GET /api/status?ids=..` reports the instances through the durable client.
"""

import json
import os
import sqlite3

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _results() -> sqlite3.Connection:
    # The file is in WAL mode already (the test makes it so before the host starts).
    db = sqlite3.connect(os.environ["CRASH_RESULTS_DB"], timeout=30, isolation_level=None)
    db.execute(
        "CREATE TABLE IF NOT EXISTS parts (order_id INTEGER, part INTEGER, value INTEGER, "
        "PRIMARY KEY (order_id, part))"
    )
    db.execute("CREATE TABLE IF NOT EXISTS done (order_id INTEGER PRIMARY KEY, total INTEGER)")
    db.execute("CREATE TABLE IF NOT EXISTS attempts (order_id INTEGER, part INTEGER)")
    return db


def _decoded(value):  # type: ignore[no-untyped-def]
    return json.loads(value) if isinstance(value, str | bytes) else value


@app.service_bus_queue_trigger(arg_name="msg", queue_name="orders", connection="ServiceBusConnection")
@app.durable_client_input(client_name="client")
async def intake(msg: func.ServiceBusMessage, client: df.DurableOrchestrationClient) -> None:
    order = json.loads(msg.get_body())
    instance_id = f"order-{order['id']}"
    status = await client.get_status(instance_id)
    if status is None or status.runtime_status is None:  # at-least-once delivery: start only once
        await client.start_new("process_order", instance_id, order)


@app.orchestration_trigger(context_name="context")
def process_order(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    order = context.get_input()
    tasks = [
        context.call_activity("write_part", {"order": order["id"], "part": part})
        for part in range(order["parts"])
    ]
    values = yield context.task_all(tasks)
    total = sum(values)
    yield context.call_activity("mark_done", {"order": order["id"], "total": total})
    return total


@app.activity_trigger(input_name="item")
def write_part(item: dict) -> int:
    item = _decoded(item)
    value = item["order"] * 100 + item["part"]
    with _results() as db:
        db.execute("INSERT INTO attempts VALUES (?, ?)", (item["order"], item["part"]))
        db.execute("INSERT OR IGNORE INTO parts VALUES (?, ?, ?)", (item["order"], item["part"], value))
    return value


@app.activity_trigger(input_name="item")
def mark_done(item: dict) -> bool:
    item = _decoded(item)
    with _results() as db:
        db.execute("INSERT OR IGNORE INTO done VALUES (?, ?)", (item["order"], item["total"]))
    return True


@app.route(route="status", methods=["GET"])
@app.durable_client_input(client_name="client")
async def status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    report = {}
    for instance_id in filter(None, req.params.get("ids", "").split(",")):
        found = await client.get_status(instance_id)
        runtime = found.runtime_status
        report[instance_id] = {
            "status": runtime.value if runtime is not None else None,
            "output": found.output,
        }
    return func.HttpResponse(json.dumps(report), mimetype="application/json")

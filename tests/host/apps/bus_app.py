"""Test-only function app: Service Bus triggers (queue and topic) and a Service Bus output binding."""

import json
import os
import time
from pathlib import Path

import azure.functions as func

app = func.FunctionApp()


def _record(name: str, msg: func.ServiceBusMessage) -> None:
    with Path(os.environ["BUS_LOG"]).open("a") as f:
        f.write(
            json.dumps(
                {
                    "function": name,
                    "id": msg.message_id,
                    "body": msg.get_body().decode(),
                    "delivery_count": msg.delivery_count,
                    "props": dict(msg.application_properties or {}),
                }
            )
            + "\n"
        )


@app.service_bus_queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE%", connection="ServiceBusConnection")
@app.service_bus_topic_output(arg_name="out", topic_name="done", connection="ServiceBusConnection")
def work(msg: func.ServiceBusMessage, out: func.Out[str]) -> None:
    body = msg.get_body().decode()
    if body == "poison":
        raise ValueError("cannot process poison")
    if body.startswith("slow"):
        time.sleep(1.0)
    _record("work", msg)
    out.set(json.dumps({"done": body}))


@app.service_bus_topic_trigger(
    arg_name="msg", topic_name="done", subscription_name="audit", connection="ServiceBusConnection"
)
async def audit(msg: func.ServiceBusMessage) -> None:
    _record("audit", msg)

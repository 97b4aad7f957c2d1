"""Test-only function app: the ops blueprint, a Commerce-events handler that fails until a flag
file exists (the "cause"), and an orchestration that waits (something in flight)."""

import json
import os
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

from functions.ops import bp as ops
from functions.provisioning import bp as provisioning

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(provisioning)  # ops status / reconcile / report endpoints
app.register_functions(ops)


@app.function_name("store_event")
@app.service_bus_topic_trigger(
    arg_name="msg",
    topic_name="%CTS_BUS__TOPIC%",
    subscription_name="%CTS_BUS__SUBSCRIPTION%",
    connection="ServiceBusConnection",
)
def store_event(msg: func.ServiceBusMessage) -> None:
    if not Path(os.environ["OPS_FIXED_FLAG"]).exists():
        raise RuntimeError("Commerce unavailable: cannot read store")
    with Path(os.environ["OPS_HANDLED_LOG"]).open("a") as out:
        out.write(
            json.dumps(
                {
                    "id": msg.message_id,
                    "body": msg.get_body().decode(),
                    "props": dict(msg.application_properties or {}),
                }
            )
            + "\n"
        )


@app.orchestration_trigger(context_name="context")
def waiting_sync(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    context.set_custom_status({"key": "store:0042", "outcome": "waiting for Commerce"})
    yield context.wait_for_external_event("go")
    return "done"

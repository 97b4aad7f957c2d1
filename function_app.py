"""The Azure Functions entry point: one DFApp that registers the blueprints. Nothing else.

Kept import-light on purpose (cold start): blueprints import the heavy SDKs lazily.
"""

import azure.durable_functions as df
import azure.functions as func

from functions.commerce_events import bp as commerce_events
from functions.drift import bp as drift
from functions.ops import bp as ops
from functions.provisioning import bp as provisioning
from functions.records import bp as records
from functions.tasks import bp as tasks
from functions.telemetry import configure as configure_telemetry

configure_telemetry()  # once, before any client is built (functions/telemetry.py)
app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(commerce_events)
app.register_functions(provisioning)
app.register_functions(drift)
app.register_functions(ops)
app.register_functions(tasks)
app.register_functions(records)


if __name__ == "__main__":  # `python function_app.py`: list what Azure would index
    for fn in app.get_functions():
        bindings = ", ".join(str(b.get_dict_repr()["type"]) for b in fn.get_bindings())
        print(f"{fn.get_function_name():32} {bindings}")

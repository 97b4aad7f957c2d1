"""Test-only app: the task blueprint, the production Commerce event trigger and the ops blueprint
(the ops page's task completion section). Provisioning is left out: the tests map the teams."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from functions.commerce_events import bp as commerce_events
from functions.ops import bp as ops
from functions.tasks import bp as tasks

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(commerce_events)
app.register_functions(tasks)
app.register_functions(ops)

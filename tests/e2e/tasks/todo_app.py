"""Test-only app for To Do mode: the task blueprint, the production Commerce event trigger and the
production Graph webhook (functions/drift.py), which carries todoTask notifications to task
mirroring. Provisioning is left out: the tests create and map the store teams themselves."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from functions.commerce_events import bp as commerce_events
from functions.drift import bp as drift
from functions.tasks import bp as tasks

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(commerce_events)
app.register_functions(tasks)
app.register_functions(drift)

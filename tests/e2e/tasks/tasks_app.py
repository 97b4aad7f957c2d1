"""Test-only app: the task blueprint and the production Commerce event trigger
(functions/commerce_events.py), so task events reach task mirroring exactly as in the app.
Provisioning is left out: the tests create and map the store teams themselves."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from functions.commerce_events import bp as commerce_events
from functions.tasks import bp as tasks

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(commerce_events)
app.register_functions(tasks)

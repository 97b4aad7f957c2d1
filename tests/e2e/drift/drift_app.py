"""Test-only app: the drift blueprint, plus a stand-in `sync_team` orchestrator that records each
start (the name the spine's `request(TEAMS, ...)` starts) in the file named by DRIFT_TEST_RECORD."""

from __future__ import annotations

import json
import os
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from functions.drift import bp

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(bp)


@app.orchestration_trigger(context_name="context")
def sync_team(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    data = context.get_input() or {}
    yield context.call_activity("record_sync_start", {**data, "instance_id": context.instance_id})
    return data


@app.activity_trigger(input_name="payload")
def record_sync_start(payload: dict[str, Any]) -> None:
    with open(os.environ["DRIFT_TEST_RECORD"], "a", encoding="utf-8") as out:
        out.write(json.dumps(payload) + "\n")

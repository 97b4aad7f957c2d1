"""The app's real `reconcile_all` orchestration (functions/provisioning.py) with stand-in
activities: the batch answers `again` for the keys in FAIL_IN_BATCH, and the single-team
activity records what it re-runs. Drives the orchestration's fan-out and re-run path."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import azure.durable_functions as df

from functions.provisioning import AGAIN, reconcile_all_steps

app = df.DFApp()

CALLS: Counter[str] = Counter()
FAIL_IN_BATCH: set[str] = set()
FINISHED: list[dict[str, Any]] = []
PARALLEL: list[int] = []  # [n]: the scope asks for n batches at once; empty: a scope without it
WINDOW: list[bool] = []  # [True]: the scope asks for the sliding window (reconcile_begin's today)
SLOW: set[str] = set()  # a batch holding one of these keys takes 10 times as long
SPANS: list[tuple[str, float, float]] = []  # (first key, start, end) of each batch
IN_FLIGHT: list[int] = [0, 0]  # [now, most]
_LOCK = threading.Lock()


@app.orchestration_trigger(context_name="context")
def reconcile_all(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    return (yield from reconcile_all_steps(context))


@app.activity_trigger(input_name="payload")
def reconcile_begin(payload: dict[str, Any]) -> dict[str, Any]:
    keys = payload["keys"]
    scope = {"batch_size": 3, "report_id": "r-test", "started": "2026-12-03T00:00:00+00:00", "keys": keys,
             "mode": "keys", "why": "test"}  # fmt: skip
    if WINDOW:
        scope["schedule"] = "window"
    return {**scope, "parallel_batches": PARALLEL[0]} if PARALLEL else scope


@app.activity_trigger(input_name="payload")
def reconcile_batch(payload: dict[str, Any]) -> list[dict[str, Any]]:
    with _LOCK:
        CALLS["batches"] += 1
        CALLS["batch_keys"] += len(payload["keys"])
        IN_FLIGHT[0] += 1
        IN_FLIGHT[1] = max(IN_FLIGHT)
    start = time.monotonic()
    time.sleep(0.5 if SLOW & set(payload["keys"]) else 0.05)  # batches scheduled together overlap
    with _LOCK:
        IN_FLIGHT[0] -= 1
        SPANS.append((payload["keys"][0], start, time.monotonic()))
    return [{"key": k, "outcome": AGAIN if k in FAIL_IN_BATCH else "changed"} for k in payload["keys"]]


@app.activity_trigger(input_name="payload")
def reconcile_team(payload: dict[str, Any]) -> dict[str, Any]:
    CALLS[f"alone:{payload['key']}"] += 1
    assert payload["instance_id"].endswith(f":{payload['key']}")
    return {"key": payload["key"], "outcome": "changed"}


@app.activity_trigger(input_name="payload")
def reconcile_finish(payload: dict[str, Any]) -> dict[str, Any]:
    FINISHED.append(payload)
    return {"outcomes": payload["outcomes"], "teams": payload["teams"]}

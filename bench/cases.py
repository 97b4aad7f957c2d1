"""Benchmark cases. Each returns a flat dict of metrics (seconds, counts, bytes)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import tracemalloc
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def cold_start_import(runs: int = 7) -> dict[str, Any]:
    """Wall time of a fresh interpreter importing function_app (what a cold Functions worker pays
    before its first invocation), median of `runs`, plus the bare interpreter for reference."""

    def timed(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)
        return time.perf_counter() - start

    timed("import function_app")  # warm the OS file cache and __pycache__
    app = [timed("import function_app") for _ in range(runs)]
    bare = [timed("pass") for _ in range(runs)]
    return {
        "import_function_app_s_median": statistics.median(app),
        "import_function_app_s_max": max(app),
        "bare_interpreter_s_median": statistics.median(bare),
    }


def planner_1000_stores() -> dict[str, Any]:
    """desired() + plan() for a 1,000-store / 20,000-worker org: first provisioning (empty
    tenant), then a converged tenant (the nightly reconciliation's planning cost)."""
    from local.scenarios.generate import generate_org
    from local.scenarios.orgfile import load_org
    from shared.domain import ActualState, Identity
    from shared.provisioning import apply, desired, plan
    from shared.settings import ProvisioningSettings

    loaded = load_org(generate_org(stores=1000, workers=20000, seed=1))
    org = loaded.org
    by_upn = {u.upn for u in loaded.directory}
    identities = {
        w.personnel_number: Identity(user_id=f"user-{w.personnel_number}", upn=w.upn)
        for w in org.workers
        if w.upn in by_upn
    }
    settings = ProvisioningSettings()
    today = date(2026, 11, 23)

    tracemalloc.start()
    start = time.perf_counter()
    want = desired(org, settings, identities, today)
    t_desired = time.perf_counter() - start
    start = time.perf_counter()
    first = plan(want, ActualState(), settings)
    t_first = time.perf_counter() - start
    converged = apply(first, ActualState(), new_team_id=lambda key: f"team-{key}")
    start = time.perf_counter()
    again = plan(want, converged, settings)
    t_again = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "teams_desired": len(want.teams),
        "desired_s": t_desired,
        "plan_first_provisioning_s": t_first,
        "operations_first_provisioning": len(first.operations),
        "plan_converged_s": t_again,
        "operations_converged": len(again.operations),
        "peak_traced_memory_mb": peak / 1e6,
    }


def _graph_totals(stack: Any) -> tuple[int, int, int, dict[str, int]]:
    """(requests, writes, throttled, by route) the Graph sandbox has counted so far: every request
    a $batch carries counts as one; the $batch envelope itself is not counted."""
    snap = stack.graph.counters()
    totals = {k: int(v) for k, v in snap.get("totals", {}).items() if "$batch" not in k}
    requests = sum(totals.values())
    writes = sum(v for k, v in totals.items() if not k.upper().startswith("GET"))
    return requests, writes, int(snap.get("throttled", 0)), totals


def stack_reconcile(stores: int | None = None) -> dict[str, Any]:
    """The whole app on the local stack (host process, Graph and Commerce sandboxes) with a
    generated org of `stores` stores (20 workers each; CTS_BENCH_STORES, default 1000): the first
    provisioning through a full reconciliation, then a full reconciliation of the converged org
    (the nightly job) -- wall time, Graph requests and writes for each; then events per second
    through the host: a burst of store-changed events for the converged org."""
    import os
    import tempfile

    from local.scenarios.generate import dump_org, generate_org
    from local.scenarios.player import provision_org, request_reconcile
    from local.stack import Stack, StackConfig

    n = stores or int(os.environ.get("CTS_BENCH_STORES", "1000"))
    data = Path(tempfile.mkdtemp(prefix="cts-bench-"))
    org_file = data / "org.json"
    org = generate_org(stores=n, workers=n * 20, seed=1)
    org_file.write_text(dump_org(org), encoding="utf-8")
    out: dict[str, Any] = {"stores": n, "workers": n * 20}
    config = StackConfig(org=org_file, data_dir=data / "stack", port_base=0, graph_scale=0.05)
    with Stack(config) as stack:
        start = time.perf_counter()
        first = provision_org(stack, converge_timeout=3600)
        out["first_provisioning_s"] = time.perf_counter() - start
        out["first_provisioning_converged"] = bool(first["converged"])
        req, writes, throttled, routes = _graph_totals(stack)
        out |= {"first_graph_requests": req, "first_graph_writes": writes, "first_throttled": throttled}

        start = time.perf_counter()
        request_reconcile(stack)
        converged = stack.converged(timeout=3600)
        out["converged_reconcile_s"] = time.perf_counter() - start
        out["converged_reconcile_converged"] = converged
        req2, writes2, _, routes2 = _graph_totals(stack)
        out["converged_top_routes"] = dict(
            sorted(((k, v - routes.get(k, 0)) for k, v in routes2.items() if v - routes.get(k, 0)),
                   key=lambda kv: -kv[1])[:8]
        )  # fmt: skip
        out["converged_graph_requests"] = req2 - req
        out["converged_graph_writes"] = writes2 - writes
        out["converged_graph_requests_per_store"] = (req2 - req) / n

        out |= event_burst(stack, org, min(2000, n * 2))
    return out


def event_burst(stack: Any, org: dict[str, Any], events: int, tag: str = "BENCH") -> dict[str, Any]:
    """`events` store-changed events for a converged org, sent at once; events/s until converged."""
    import json

    numbers = [s["number"] for s in org["stores"]]
    start = time.perf_counter()
    for i in range(events):
        body = {"BusinessEventId": "CTS_StoreChangedBusinessEvent", "EventId": f"{tag}-{i:06d}",
                "BusinessEventLegalEntity": org.get("legal_entity", "USRT"),
                "ControlNumber": 9_000_000_000 + i, "EventTime": f"/Date({int(time.time() * 1000)})/",
                "MajorVersion": 0, "MinorVersion": 0, "StoreNumber": numbers[i % len(numbers)],
                "ChangeKind": "Changed"}  # fmt: skip
        stack.bus.send_raw(json.dumps(body).encode(), message_id=f"{tag.lower()}-{i}")
    sent = time.perf_counter() - start
    done = stack.converged(timeout=3600, stable=0.5)
    elapsed = time.perf_counter() - start
    return {"events": events, "events_send_s": sent, "events_until_converged_s": elapsed,
            "events_per_s": events / elapsed, "events_converged": done}  # fmt: skip


def tracing_overhead(stores: int | None = None, events: int | None = None) -> dict[str, Any]:
    """Events/s through the host with the OpenTelemetry pipeline on (spans and metrics to
    <data>/host/telemetry/*.jsonl, local/host/telemetry.py) and off (CTS_LOCAL_TRACING=0), on the
    same generated org (CTS_BENCH_TRACING_STORES, default 100 stores; CTS_BENCH_TRACING_EVENTS,
    default 600 events). Each run gets a fresh stack, provisioned first."""
    import os
    import tempfile

    from local.scenarios.generate import dump_org, generate_org
    from local.scenarios.player import provision_org
    from local.stack import Stack, StackConfig

    n = stores or int(os.environ.get("CTS_BENCH_TRACING_STORES", "100"))
    count = events or int(os.environ.get("CTS_BENCH_TRACING_EVENTS", "600"))
    org = generate_org(stores=n, workers=n * 20, seed=1)
    out: dict[str, Any] = {"stores": n, "events": count}
    for mode, flag in (("traced", "1"), ("untraced", "0")):
        data = Path(tempfile.mkdtemp(prefix=f"cts-bench-{mode}-"))
        (data / "org.json").write_text(dump_org(org), encoding="utf-8")
        config = StackConfig(org=data / "org.json", data_dir=data / "stack", port_base=0, graph_scale=0.05,
                             extra_settings={"CTS_LOCAL_TRACING": flag})  # fmt: skip
        with Stack(config) as stack:
            provision_org(stack, converge_timeout=3600)
            burst = event_burst(stack, org, count, tag=f"TRACE{flag}")
            spans = stack.data / "host" / "telemetry" / "spans.jsonl"
            out[f"{mode}_events_per_s"] = burst["events_per_s"]
            out[f"{mode}_converged"] = burst["events_converged"]
            if flag == "1":
                out["traced_span_file_mb"] = spans.stat().st_size / 1e6 if spans.is_file() else 0.0
    out["tracing_overhead_pct"] = 100.0 * (1 - out["traced_events_per_s"] / out["untraced_events_per_s"])
    return out

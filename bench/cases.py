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

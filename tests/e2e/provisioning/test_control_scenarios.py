"""The kill switch end to end on the local host: `cts suspend` stops every write (the Graph
sandbox's counters show none while Commerce changes and a reconciliation run), passes still plan
and report (outcome `suspended`), and `cts resume` converges what was held."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local.scenarios.player import ROOT, Player, _cts_env, provision_org, request_reconcile
from local.scenarios.report import build_report
from local.stack import Stack, StackConfig

pytestmark = pytest.mark.slow

SCENARIOS = Path(__file__).resolve().parents[3] / "local" / "scenarios"


def _cts(stack: Stack, *args: str) -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, "-m", "cts", "--target", "local", "--data", str(stack.data),
         "--host", stack.host_url, *args, "--json"],
        cwd=ROOT, capture_output=True, text=True, env=_cts_env(stack), timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr or run.stdout
    return dict(json.loads(run.stdout))


def _writes(stack: Stack) -> dict[str, int]:
    requests: dict[str, dict[str, int]] = stack.graph.counters()["requests"]
    return {
        r: sum(n.values()) for r, n in requests.items() if not r.startswith("GET ") and r != "POST /$batch"
    }


def _team(stack: Stack, store: str) -> dict[str, Any]:
    report = build_report(stack, timings={})
    return next(t for t in report["teams"] if t["store"] == store)


def test_kill_switch_stops_every_write_and_lifting_it_converges(tmp_path: Path) -> None:
    with Stack(
        StackConfig(org=SCENARIOS / "sample-org.json", data_dir=tmp_path, port_base=0, graph_scale=0.2)
    ) as stack:
        assert provision_org(stack)["converged"]
        switched = _cts(stack, "suspend", "--reason", "month-end audit")
        assert switched["suspended"] is True and "month-end audit" in switched["reason"]
        stack.graph.reset_counters()

        Player(stack, converge_timeout=120, say=lambda _m: None).play(
            [
                {"commerce": "rename_store", "store": "0006", "name": "Chicago Loop"},
                {"commerce": "close_store", "store": "0009"},
                {"wait": "converged"},
            ]
        )
        request_reconcile(stack)
        assert stack.converged(timeout=120)
        assert _writes(stack) == {}  # not one write to Graph while suspended
        status = stack.call_app("GET", "ops/status/store:0006").json()
        entry = status[0] if isinstance(status, list) else status
        assert entry["outcome"] == "suspended", entry
        assert any(p["kind"] == "suspended: writes off" for p in entry["problems"]), entry
        assert _team(stack, "0006")["display_name"] != "Chicago Loop (0006)"

        resumed = _cts(stack, "resume")
        assert resumed["suspended"] is False and resumed["reconcile_instance"]
        assert stack.converged(timeout=120)
        assert _team(stack, "0006")["display_name"] == "Chicago Loop (0006)"
        assert _team(stack, "0009")["archived"] is True
        assert _writes(stack)  # the held plan ran
        assert _cts(stack, "suspended")["suspended"] is False

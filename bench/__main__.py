"""Run the benchmarks: `python -m bench [--only NAME ...] [--out DIR] [--update-baseline]`.

Each case returns flat metrics. The run goes to `bench/results/<timestamp>.json` and
`bench/results/latest.json` with the commit it measured; each metric carries, beside its value,
the same case's figure from the previous run found in the results folder and from
`bench/baseline.json` (kept in the repository, changed only with `--update-baseline`). A table
is printed. Nothing here asserts a time: the numbers are for reading and for before/after
comparisons in closing notes.

Sizes: CTS_BENCH_STORES (default 1000) for the stack cases; the 10,000-store case runs only
with `--only stack_10000_stores` (about 30 minutes on 2 cores, see README).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import cases, drift, records

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "bench" / "baseline.json"

CASES: dict[str, Callable[[], dict[str, Any]]] = {
    "cold_start_import": cases.cold_start_import,
    "planner_1000_stores": cases.planner_1000_stores,
    "stack_reconcile": cases.stack_reconcile,
    "graph_floor": cases.graph_floor,
    "graph_floor_parallel": cases.graph_floor_parallel,
    "teams_over_floor_rounds": cases.teams_over_floor_rounds,
    "notifications_throughput": cases.notifications_throughput,
    "drift_batch_reads": drift.drift_batch_reads,
    "planner_poll": cases.planner_poll,
    "stack_10000_stores": cases.stack_10000_stores,
    "records_connections": records.records_connections,
    "tracing_overhead": cases.tracing_overhead,
}
OPT_IN = {"stack_10000_stores"}  # only with --only: ~30 minutes and ~1 GB, not part of every run


def commit() -> str:
    def git(*args: str) -> str:
        run = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return run.stdout.strip()

    head = git("rev-parse", "--short=12", "HEAD") or "unknown"
    return head + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def figures(document: dict[str, Any], case: str) -> dict[str, Any] | None:
    """A case's plain figures in a results document (either layout: value or {"value": ...})."""
    found = document.get("cases", {}).get(case)
    if not isinstance(found, dict):
        return None
    return {k: v["value"] if isinstance(v, dict) and "value" in v else v for k, v in found.items()}


def previous_run(out: Path, case: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(run header, figures) of the newest earlier run in `out` that measured `case`."""
    for path in sorted(out.glob("2*.json"), reverse=True):
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        found = figures(document, case)
        if found is not None:
            return {"when": document.get("when"), "commit": document.get("commit")}, found
    return None


def _app_over_floor(measured: dict[str, Any], app_figure: str) -> dict[str, Any] | None:
    """The app's first provisioning time (`app_figure`) over the Graph floor, when both ran at the
    same size; the previous and baseline ratios are those runs' own (in their graph_floor
    figures), never one run's app over another run's floor."""
    app, floor = measured.get("stack_reconcile"), measured.get("graph_floor")
    if not app or not floor or app["stores"]["value"] != floor["stores"]["value"]:
        return None
    value = (app.get(app_figure) or {}).get("value")
    if value is None:
        return None
    return {"value": value / floor["floor_s"]["value"], "previous": None, "baseline": None}


# The ratios in graph_floor's figures: app_over_floor is provision_org's whole wall
# (first_provisioning_s: the teams, then the task mirroring, each convergence wait with its 1 s
# of quiet); teams_over_floor is the teams alone to the moment the app went quiet
# (first_teams_s: the floor's work, ended when the app's work ended; since 2026-12-07).
RATIOS = {"app_over_floor": "first_provisioning_s", "teams_over_floor": "first_teams_s"}


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:,.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    text = json.dumps(value) if isinstance(value, dict | list) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=(__doc__ or "").splitlines()[0],
        epilog=f"cases: {', '.join(CASES)} ({', '.join(sorted(OPT_IN))} only with --only)",
    )  # fmt: skip
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), help="run only these cases")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="results folder")
    parser.add_argument(
        "--update-baseline", action="store_true", help=f"also write this run's figures to {BASELINE}"
    )
    args = parser.parse_args(argv)
    selected = args.only or [c for c in CASES if c not in OPT_IN]
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "baseline": {"when": baseline.get("when"), "commit": baseline.get("commit")},
        "previous": {},
        "cases": {},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    earlier_ratio: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(selected, 1):
        print(f"[{i}/{len(selected)}] {name} ...", file=sys.stderr, flush=True)
        metrics = CASES[name]()
        before = previous_run(args.out, name)
        results["previous"][name] = before[0] if before else None
        old = before[1] if before else {}
        base = figures(baseline, name) or {}
        results["cases"][name] = {
            metric: {"value": value, "previous": old.get(metric), "baseline": base.get(metric)}
            for metric, value in metrics.items()
        }
        if name == "graph_floor":
            earlier_ratio = {r: {"previous": old.get(r), "baseline": base.get(r)} for r in RATIOS}
    for ratio_name, app_figure in RATIOS.items():
        ratio = _app_over_floor(results["cases"], app_figure)
        if ratio is not None:
            results["cases"]["graph_floor"][ratio_name] = ratio | earlier_ratio.get(ratio_name, {})
    text = json.dumps(results, indent=2)
    (args.out / f"{results['when'].replace(':', '')}.json").write_text(text)
    (args.out / "latest.json").write_text(text)
    if args.update_baseline:
        merged = {**baseline, "when": results["when"], "commit": results["commit"]}
        merged["cases"] = {**baseline.get("cases", {}), **{n: figures(results, n) for n in results["cases"]}}
        BASELINE.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"commit {results['commit']}; previous and baseline figures beside each value")
    print(f"{'case':26} {'metric':36} {'value':>16} {'previous':>16} {'baseline':>16}")
    for name, metrics in results["cases"].items():
        for metric, v in metrics.items():
            print(
                f"{name:26} {metric:36} {_shown(v['value']):>16} {_shown(v['previous']):>16}"
                f" {_shown(v['baseline']):>16}"
            )
    print(f"\nwritten: {args.out / 'latest.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Run the benchmarks: `python -m bench [--only NAME ...] [--out DIR]`.

Each case returns flat metrics; results go to `bench/results/<timestamp>.json` and
`bench/results/latest.json`, and a short table is printed. Nothing here asserts a time: the
numbers are for reading and for before/after comparisons in closing notes.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import cases

CASES: dict[str, Callable[[], dict[str, Any]]] = {
    "cold_start_import": cases.cold_start_import,
    "planner_1000_stores": cases.planner_1000_stores,
    "stack_reconcile": cases.stack_reconcile,
    "tracing_overhead": cases.tracing_overhead,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), help="run only these cases")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="results folder")
    args = parser.parse_args(argv)
    selected = args.only or list(CASES)
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cases": {},
    }
    for i, name in enumerate(selected, 1):
        print(f"[{i}/{len(selected)}] {name} ...", file=sys.stderr, flush=True)
        results["cases"][name] = CASES[name]()
    args.out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2)
    (args.out / f"{results['when'].replace(':', '')}.json").write_text(text)
    (args.out / "latest.json").write_text(text)
    print(f"{'case':28} {'metric':34} value")
    for name, metrics in results["cases"].items():
        for metric, value in metrics.items():
            shown = (
                f"{value:,.3f}"
                if isinstance(value, float)
                else f"{value:,}"
                if isinstance(value, int)
                else value
            )
            print(f"{name:28} {metric:34} {shown}")
    print(f"\nwritten: {args.out / 'latest.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Run end-to-end tests one by one, each in a fresh pytest process: a test that only passes after
the tests before it (a module-scoped world it does not set up itself) fails here.

    python -m tests.tools.run_alone                 # a sample of 4, different every day
    python -m tests.tools.run_alone --all tests/e2e/tasks
    python -m tests.tools.run_alone --sample 6 --seed 7 tests/e2e

`make test-alone` runs the default sample (about a minute on 2 cores); CI runs it after
`make test`. Exit status 1 names the tests that failed alone.
"""

from __future__ import annotations

import argparse
import datetime
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PATHS = ["tests/e2e/tasks", "tests/e2e/drift", "tests/e2e/provisioning"]


def collect(paths: list[str]) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", *paths],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [line.strip() for line in out.splitlines() if "::" in line]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=DEFAULT_PATHS, help="test paths to sample from")
    parser.add_argument("--sample", type=int, default=4, help="how many tests to run alone (default 4)")
    parser.add_argument("--all", action="store_true", help="run every collected test alone")
    parser.add_argument("--seed", type=int, default=None, help="sample seed (default: today's date)")
    args = parser.parse_args(argv)
    tests = collect(args.paths)
    seed = args.seed if args.seed is not None else int(datetime.date.today().strftime("%Y%m%d"))
    chosen = tests if args.all else sorted(random.Random(seed).sample(tests, min(args.sample, len(tests))))
    print(f"running {len(chosen)} of {len(tests)} tests alone (seed {seed})", flush=True)
    failed: list[str] = []
    for i, test in enumerate(chosen, 1):
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", test],
            cwd=ROOT, capture_output=True, text=True,
        )  # fmt: skip
        verdict = "ok" if result.returncode == 0 else "FAILED"
        print(f"[{i}/{len(chosen)}] {verdict:6} {time.monotonic() - started:5.1f}s  {test}", flush=True)
        if result.returncode != 0:
            failed.append(test)
            print(result.stdout[-3000:], flush=True)
    if failed:
        print("failed when run alone:\n  " + "\n  ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

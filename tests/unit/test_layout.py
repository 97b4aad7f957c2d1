"""The architecture's rules, checked: the app lists its functions, settings sample, the two commands.
The import layering is tests/unit/test_layering.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_function_app_lists_its_functions() -> None:
    out = subprocess.run(
        [sys.executable, "function_app.py"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    names = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert "commerce_event" in names


def test_settings_sample_lists_every_setting_the_app_reads() -> None:
    from cts.settings_sample import RUNTIME_SETTINGS, setting_names

    sample = json.loads((ROOT / "local.settings.sample.json").read_text(encoding="utf-8"))["Values"]
    missing = [n for n in [*setting_names(), *RUNTIME_SETTINGS] if n not in sample]
    assert missing == [], "regenerate with: cts settings sample --out local.settings.sample.json"
    assert all(isinstance(v, str) for v in sample.values()), "Functions app settings are strings"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [ln.strip() for ln in script.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert commands[-1] == "make test"
    assert "make test" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in (ROOT / "README.md").read_text(encoding="utf-8")

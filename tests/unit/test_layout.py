"""The architecture's rules, checked: layers, import cost, settings sample, the two commands."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imports(package: Path) -> dict[Path, set[str]]:
    found: dict[Path, set[str]] = {}
    for path in package.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[path] = names
    return found


def test_shared_never_imports_the_functions_runtime() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            n for n in names if n.startswith(("azure.functions", "azure.durable_functions"))
        )
        for path, names in _imports(ROOT / "shared").items()
    }
    assert {p: n for p, n in offenders.items() if n} == {}


@pytest.mark.parametrize("package", ["provisioning", "tasks"])
def test_planning_layers_do_no_io(package: str) -> None:
    io_modules = (
        "httpx",
        "sqlite3",
        "socket",
        "aiohttp",
        "requests",
        "msgraph",
        "azure",
        "urllib.request",
        "shared.graph",
        "shared.commerce.client",
        "shared.state",
        "shared.bus",
        "local",
    )
    root = ROOT / "shared" / package
    if not root.exists():
        pytest.skip(f"shared/{package} not built yet")
    offenders = {
        str(path.relative_to(ROOT)): sorted(n for n in names if n.startswith(io_modules))
        for path, names in _imports(root).items()
    }
    assert {p: n for p, n in offenders.items() if n} == {}


def test_shared_does_not_import_the_sandboxes_or_host() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(n for n in names if n == "local" or n.startswith("local."))
        for path, names in _imports(ROOT / "shared").items()
    }
    assert {p: n for p, n in offenders.items() if n} == {}


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

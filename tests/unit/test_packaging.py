"""What ships is what is imported: requirements.txt (the Function App, built remotely in Azure)
holds the distributions function_app.py, functions/ and shared/ import, and nothing else; the
`cts` CLI's own imports are declared in pyproject.toml for `pip install .`."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]
OWN = {"shared", "functions", "cts", "local", "function_app", "tests", "bench"}


NAMESPACES = ("azure", "opentelemetry")


def imported_distributions(*paths: Path) -> set[str]:
    """Distributions (normalised names) that the modules under `paths` import at any depth."""
    modules: set[str] = set()
    for path in paths:
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    modules.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    modules.add(node.module)
                    if node.module in NAMESPACES:  # `from opentelemetry import trace`
                        modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    owners = md.packages_distributions()
    found: set[str] = set()
    for module in modules:
        top = module.split(".")[0]
        if top in OWN or top in sys.stdlib_module_names or top == "__future__":
            continue
        if top in NAMESPACES:  # a namespace package: the distribution is named by the subpackage
            if module in NAMESPACES:
                continue  # `from opentelemetry import trace` counts as opentelemetry.trace
            candidates = {d for d in owners.get(top, []) if _defines(d, module)} or {
                d for d in owners.get(top, []) if _provides(d, module)
            }
        else:
            candidates = set(owners.get(top, []))
        assert candidates, f"no installed distribution provides {module!r}"
        found.update(normalise(c) for c in candidates)
    return found


def _defines(distribution: str, module: str) -> bool:
    """The distribution has the module's own file (not only subpackages of it: the Azure Monitor
    exporter lives inside azure/monitor/opentelemetry/ but is not that package)."""
    files = {str(f) for f in md.distribution(distribution).files or []}
    wanted = module.replace(".", "/")
    return f"{wanted}/__init__.py" in files or f"{wanted}.py" in files


def _provides(distribution: str, module: str) -> bool:
    files = md.distribution(distribution).files or []
    wanted = module.replace(".", "/")
    return any(str(f).startswith(wanted + "/") or str(f) == wanted + ".py" for f in files)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(lines: list[str]) -> set[str]:
    names = set()
    for line in lines:
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(normalise(re.split(r"[<>=!~\[; ]", line)[0]))
    return names


def test_requirements_txt_is_exactly_what_the_function_app_imports() -> None:
    app = imported_distributions(ROOT / "function_app.py", ROOT / "functions", ROOT / "shared")
    required = requirement_names((ROOT / "requirements.txt").read_text().splitlines())
    assert app - required == set(), f"imported by the app but not in requirements.txt: {app - required}"
    assert required - app == set(), f"in requirements.txt but imported by no app module: {required - app}"


def test_pyproject_declares_what_the_cli_imports() -> None:
    cli = imported_distributions(ROOT / "cts")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = requirement_names(project["dependencies"])
    assert cli - declared == set(), f"cts imports {cli - declared}, which pyproject.toml does not declare"
    assert {"typer", "rich"} <= declared

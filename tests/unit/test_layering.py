"""The layering, checked on the tree (docs/architecture: functions/ thin adapters, shared/ the core,
pure rules without I/O, gateways that know no feature, no cycles between core packages, no
production import of the local stand-ins).

Every import counts, wherever it is -- module level, inside a function (a "lazy" import), under
TYPE_CHECKING -- and `from a import b` counts both `a` and `a.b`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Pure rules: decisions and models with no I/O (what the planners and state machines test).
PURE = (
    "shared/provisioning",
    "shared/tasks",
    "shared/domain",
    # record-connected channels' pure rules (the pass, intake and requests beside them do I/O)
    "shared/records/desired.py",
    "shared/records/model.py",
    "shared/records/plan.py",
    "shared/records/simulate.py",
    "shared/records/template.py",
    "shared/spine/feature.py",
    "shared/spine/features.py",
    "shared/spine/orchestrator.py",
)
IO_MODULES = (
    "httpx",
    "sqlite3",
    "socket",
    "aiohttp",
    "requests",
    "msgraph",
    "azure",
    "urllib.request",
    "asyncio",
    "shared.graph",
    "shared.commerce.client",
    "shared.state",
    "shared.bus",
    "shared.sync",
    "shared.mirror",
    "shared.drift",
    "shared.ops",
    "shared.dataverse",
    "shared.records.intake",
    "shared.records.records_pass",
    "shared.records.services",
    "local",
)
FEATURES = ("shared.sync", "shared.mirror", "shared.drift", "shared.ops", "shared.records")
PLANNING = ("shared.tasks", "shared.provisioning")
GATEWAYS = ("state", "graph", "commerce", "bus")


def _package_of(path: Path) -> list[str]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return parts[:-1]


def imported_names(source: str, package: list[str]) -> set[str]:
    """The modules `source` (a file of `package`, e.g. ['shared', 'sync']) imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            if base:
                names.add(base)
                names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def imports(where: Path) -> dict[Path, set[str]]:
    files = sorted(where.rglob("*.py")) if where.is_dir() else [where]
    return {p: imported_names(p.read_text(encoding="utf-8"), _package_of(p)) for p in files}


def _matches(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def offenders(where: Path, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> dict[str, list[str]]:
    found = {
        str(path.relative_to(ROOT)): sorted(
            n for n in names if _matches(n, forbidden) and not _matches(n, allowed)
        )
        for path, names in imports(where).items()
    }
    return {p: n for p, n in found.items() if n}


def _core_package(module: str, root: Path) -> str | None:
    """`shared.sync.team_pass` -> `sync`; `shared.settings` -> `settings`; not in shared/ -> None."""
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "shared":
        return None
    return parts[1] if (root / parts[1]).is_dir() or (root / f"{parts[1]}.py").is_file() else None


def core_import_graph(root: Path = ROOT / "shared") -> dict[str, dict[str, list[str]]]:
    """Package -> package it imports -> the files doing it (every import, lazy ones too)."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path, names in imports(root).items():
        source = _core_package(".".join([*_package_of(path), path.stem]), root)
        for name in names:
            target = _core_package(name, root)
            if source and target and target != source:
                files = graph.setdefault(source, {}).setdefault(target, [])
                if str(path.relative_to(ROOT)) not in files:
                    files.append(str(path.relative_to(ROOT)))
    return graph


def import_cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """The strongly connected components of more than one package (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


@pytest.mark.parametrize("package", ["shared", "functions"])
def test_production_code_never_imports_the_stand_ins(package: str) -> None:
    """shared/ and functions/ run in Azure, where local/ (sandboxes, host, broker) is not deployed;
    a stand-in is chosen by a setting at the edge (CTS_BUS__LOCAL_BROKER_FACTORY)."""
    assert offenders(ROOT / package, ("local",)) == {}


def test_the_core_never_imports_the_functions_runtime() -> None:
    assert offenders(ROOT / "shared", ("azure.functions", "azure.durable_functions", "functions")) == {}


@pytest.mark.parametrize("where", PURE)
def test_pure_rules_do_no_io(where: str) -> None:
    assert offenders(ROOT / where, IO_MODULES) == {}


def test_the_domain_imports_nothing_else_in_the_core() -> None:
    assert offenders(ROOT / "shared" / "domain", ("shared",), allowed=("shared.domain",)) == {}


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_gateways_know_no_feature_and_no_planning_rule(gateway: str) -> None:
    """The state store, Graph, Commerce and the bus serve features and return domain models."""
    assert offenders(ROOT / "shared" / gateway, FEATURES + PLANNING) == {}


def test_the_spine_imports_no_feature_and_no_gateway() -> None:
    """Features register on the spine; the spine reaches the state store through a protocol."""
    assert offenders(ROOT / "shared" / "spine", (*FEATURES, "shared.state", "shared.graph")) == {}


def test_core_packages_import_each_other_without_cycles() -> None:
    graph = core_import_graph()
    cycles = import_cycles(graph)
    detail = {f"{a} -> {b}": graph[a][b] for c in cycles for a in c for b in c if b in graph.get(a, {})}
    assert cycles == [], f"import cycles between shared/ packages: {detail}"


def test_the_checks_see_every_form_of_import() -> None:
    """What a planted violation looks like to the checks: lazy, relative, `from x import module`,
    TYPE_CHECKING; and a three-package cycle is found as one."""
    source = (
        "from shared import spine\n"
        "def f():\n    import local.host.broker\n    from .intake import handle_hint\n"
        "if TYPE_CHECKING:\n    from ..state import StateStore\n"
    )
    names = imported_names(source, ["shared", "sync"])
    assert {"shared.spine", "local.host.broker", "shared.sync.intake", "shared.state"} <= names
    graph: dict[str, dict[str, list[str]]] = {"a": {"b": []}, "b": {"c": []}, "c": {"a": []}, "d": {"a": []}}
    assert import_cycles(graph) == [["a", "b", "c"]]


def test_the_state_store_knows_no_features_records() -> None:
    """The state store is generic (values, leases, requests, dedupe, echoes, audit); each feature
    owns its partitions and record types beside its pass (shared/sync/records.py,
    shared/drift/subscription_records.py, shared/mirror/pairs.py). Only the team mapping every
    feature shares lives here (shared/state/teams.py), with its own models -- no domain type."""
    assert (
        offenders(ROOT / "shared" / "state", ("shared",), allowed=("shared.state", "shared.settings")) == {}
    )

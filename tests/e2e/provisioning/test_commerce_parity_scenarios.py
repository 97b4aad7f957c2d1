"""Commerce parity end to end on the local host (issue #19), one stack for the module: the sample
org with one store manager (000011, store 0008) who has no Microsoft Teams licence.

- licences: that store is reported `blocked: no Teams licence`, never a failed pass, no team;
- mapping write-back: every store team the app keeps has its row in Commerce's "Teams mapping
  between source and team" entity after provisioning, and a reconciliation rewrites none;
- targeting hierarchy: `cts hierarchy export` writes the CSV Teams documents, matching the org;
  after a store moves region `cts hierarchy status` says stale, and a new export matches again;
- role tags: a worker whose Commerce job becomes "Shift lead" is tagged "Shift leads" in the
  store team; when the job changes back the tag goes (nobody holds the role);
- mapping refused: Commerce refusing the mapping row (the sandbox's `refuse` fault) is reported
  as `mapping not written`, retried by the nightly run, and breaks nothing else;
- kill switch: `cts suspend` stops every write (the Graph sandbox's counters show none while
  Commerce changes and a reconciliation run), passes still plan and report, `cts resume`
  converges what was held.

Every test leaves the org converged and reads the state it needs itself, so the order does not
matter.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.scenarios.player import ROOT, Player, _cts_env, provision_org, request_reconcile
from local.scenarios.report import build_report
from local.stack import Stack, StackConfig

pytestmark = pytest.mark.slow

SCENARIOS = Path(__file__).resolve().parents[3] / "local" / "scenarios"
UNLICENSED_MANAGER, BLOCKED_STORE = "000011", "0008"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("parity")
    org = json.loads((SCENARIOS / "sample-org.json").read_text(encoding="utf-8"))
    upn = next(w["upn"] for w in org["workers"] if w["personnel_number"] == UNLICENSED_MANAGER)
    for entry in org["directory"]:
        if entry["upn"] == upn:
            entry["teams_licence"] = False
    org_file = tmp_path_factory.mktemp("parity-org") / "org.json"  # the stack owns its data dir
    org_file.write_text(json.dumps(org), encoding="utf-8")
    role_tags = {"CTS_PROVISIONING__ROLE_TAGS": json.dumps({"Shift lead": "Shift leads"})}
    config = StackConfig(org=org_file, data_dir=data, port_base=0, graph_scale=0.2, extra_settings=role_tags)
    with Stack(config) as running:
        assert provision_org(running)["converged"]
        yield running


def _cts(stack: Stack, *args: str, exit_code: int = 0) -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, "-m", "cts", "--target", "local", "--data", str(stack.data),
         "--host", stack.host_url, *args, "--json"],
        cwd=ROOT, capture_output=True, text=True, env=_cts_env(stack), timeout=120,
    )  # fmt: skip
    assert run.returncode == exit_code, run.stderr or run.stdout
    return dict(json.loads(run.stdout))


def _graph_writes(stack: Stack) -> dict[str, int]:
    requests: dict[str, dict[str, int]] = stack.graph.counters()["requests"]
    return {
        r: sum(n.values()) for r, n in requests.items() if not r.startswith("GET ") and r != "POST /$batch"
    }


def _status(stack: Stack, key: str) -> dict[str, Any]:
    found = stack.call_app("GET", f"ops/status/{key}").json()
    return dict(found[0] if isinstance(found, list) else found)


def _teams(stack: Stack) -> dict[str, dict[str, Any]]:
    return {t["store"]: t for t in build_report(stack, timings={})["teams"] if t["store"]}


def _reconciled(stack: Stack) -> None:
    request_reconcile(stack)
    assert stack.converged(timeout=120)


def test_manager_without_a_teams_licence_blocks_the_store_with_that_reason(stack: Stack) -> None:
    entry = _status(stack, f"store:{BLOCKED_STORE}")
    assert entry["outcome"] == "blocked", entry
    [problem] = [p for p in entry["problems"] if p["kind"] == "blocked: no Teams licence"]
    assert UNLICENSED_MANAGER in problem["detail"] and "appliable Sku categories" in problem["detail"]
    assert entry["error"] is None  # reported, not a failed pass
    assert BLOCKED_STORE not in _teams(stack)


def test_mapping_rows_appear_in_commerce_and_are_not_rewritten_when_unchanged(stack: Stack) -> None:
    assert stack.commerce is not None
    rows = {m["store"]: m["team_id"] for m in stack.commerce.mappings() if m["store"]}
    teams = _teams(stack)
    assert teams and {s: t["team_id"] for s, t in teams.items()} == {s: rows[s] for s in teams}
    stack.commerce.side.reset_counters()
    _reconciled(stack)
    writes = {r: n for r, n in stack.commerce.side.counters().items() if not r.startswith("GET ")}
    assert writes == {}, writes  # converged and mapped: nothing written to Commerce
    assert {m["store"]: m["team_id"] for m in stack.commerce.mappings() if m["store"]} == rows


MAPPINGS = "RetailTeamsSourceTeamMappings"


def test_a_refused_mapping_write_is_reported_retried_and_breaks_nothing_else(stack: Stack) -> None:
    """Commerce refuses the "Teams mapping between source and team" row (the app user lacks the
    entity's Maintain privilege): the new store's team is created all the same, its pass reports
    `mapping not written` with Commerce's answer instead of failing, every other store stays
    converged, the nightly run tries the row again, and once Commerce accepts it the row is there."""
    assert stack.commerce is not None
    side, store = stack.commerce.side, "0011"
    side.set_faults(refuse={"method": "POST", "entity_set": MAPPINGS, "status": 403})
    try:
        side.reset_counters()
        Player(stack, converge_timeout=120, say=lambda _m: None).play(
            [
                {"commerce": "open_store", "store": {"number": store, "name": "Boston Seaport",
                                                     "region": "EAST", "time_zone": "Eastern Standard Time"}},
                {"commerce": "assign_worker", "personnel_number": "000001", "store": store,
                 "role": "manager"},
                {"wait": "converged"},
            ]
        )  # fmt: skip
        entry = _status(stack, f"store:{store}")
        assert entry["outcome"] in ("changed", "converged") and entry["error"] is None, entry
        [problem] = [p for p in entry["problems"] if p["kind"] == "mapping not written"]
        assert "Commerce refused the Teams mapping row" in problem["detail"] and "403" in problem["detail"]
        assert "Access denied" in problem["detail"]
        team = _teams(stack)[store]  # the Teams side is done
        assert team["team_id"] == entry["team_id"] and not team["archived"]
        assert store not in {m["store"] for m in stack.commerce.mappings()}
        refused = side.counters().get(f"POST {MAPPINGS} 403", 0)
        assert refused >= 1
        _reconciled(stack)  # the nightly run: the refused row is tried again, the rest is untouched
        assert side.counters().get(f"POST {MAPPINGS} 403", 0) > refused
        assert _status(stack, f"store:{store}")["error"] is None
        others = [t for t in stack.call_app("GET", "ops/status").json() if t["key"] != f"store:{store}"]
        refusals = [p for t in others for p in t["problems"] if p["kind"] == "mapping not written"]
        assert others and not [t for t in others if t["error"] or t["outcome"] == "failed"] and not refusals
    finally:
        side.clear_faults()
    _reconciled(stack)
    assert {m["store"]: m["team_id"] for m in stack.commerce.mappings()}[store] == entry["team_id"]
    assert not [p for p in _status(stack, f"store:{store}")["problems"] if p["kind"] == "mapping not written"]


def test_kill_switch_stops_every_write_and_lifting_it_converges(stack: Stack) -> None:
    name = f"Chicago Loop {len(_teams(stack))}"
    switched = _cts(stack, "suspend", "--reason", "month-end audit")
    assert switched["suspended"] is True and "month-end audit" in switched["reason"]
    try:
        stack.graph.reset_counters()
        Player(stack, converge_timeout=120, say=lambda _m: None).play(
            [{"commerce": "rename_store", "store": "0006", "name": name}, {"wait": "converged"}]
        )
        _reconciled(stack)
        assert _graph_writes(stack) == {}  # not one write to Graph while suspended
        entry = _status(stack, "store:0006")
        assert entry["outcome"] == "suspended", entry
        assert any(p["kind"] == "suspended: writes off" for p in entry["problems"]), entry
        assert _teams(stack)["0006"]["display_name"] != f"{name} (0006)"
    finally:
        resumed = _cts(stack, "resume")
    assert resumed["suspended"] is False and resumed["reconcile_instance"]
    assert stack.converged(timeout=120)
    assert _teams(stack)["0006"]["display_name"] == f"{name} (0006)"
    assert _graph_writes(stack)  # the held plan ran
    assert _cts(stack, "suspended")["suspended"] is False


def _exported(stack: Stack, path: Path) -> dict[str, tuple[str, str]]:
    _cts(stack, "hierarchy", "export", "--out", str(path))
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == ["TargetName", "ParentName", "TeamId"]
        return {row[0]: (row[1], row[2]) for row in reader}


def _expected(stack: Stack) -> dict[str, tuple[str, str]]:
    """The hierarchy a person would draw: Commerce's regions and stores (read back through the
    Commerce sandbox's OData), each open store with a team under its region."""
    assert stack.commerce is not None

    async def read() -> Any:
        async with stack.commerce._client() as client:  # type: ignore[union-attr]
            return await client.hierarchy(), await client.stores()

    (regions, _), stores = stack.loop.run(read())
    names = {r.id: r.name for r in regions}
    teams = _teams(stack)
    want = {r.name: ("", "") for r in regions}
    want["Store communications"] = ("", next(t["team_id"] for t in build_report(stack, timings={})["teams"]
                                              if t["display_name"] == "Store communications"))  # fmt: skip
    for st in stores:
        if st.number in teams and not teams[st.number]["archived"]:
            want[f"{st.name} {st.number}"] = (names[st.region or ""], teams[st.number]["team_id"])
    return want


def test_hierarchy_export_matches_the_org_after_a_store_moves_region(stack: Stack, tmp_path: Path) -> None:
    assert _exported(stack, tmp_path / "before.csv") == _expected(stack)
    assert _cts(stack, "hierarchy", "status")["stale"] is False
    store = "0003"  # in WEST in the sample org
    assert stack.commerce is not None
    stack.commerce.apply({"commerce": "move_store", "store": store, "region": "EAST"})
    assert stack.converged(timeout=120)
    assert _cts(stack, "hierarchy", "status", exit_code=1)["stale"] is True  # the org changed
    after = _exported(stack, tmp_path / "after.csv")
    assert after == _expected(stack)
    [row] = [v for k, v in after.items() if k.endswith(f" {store}")]
    assert row[0] == "East"
    assert _cts(stack, "hierarchy", "status")["stale"] is False


def _tags(stack: Stack, team_id: str) -> dict[str, set[str]]:
    """The team's tags and their members' user ids, read from the Graph sandbox over HTTP."""
    import httpx

    with httpx.Client(base_url=stack.graph.base_url, headers=stack.graph.auth_headers, timeout=30) as http:
        tags = http.get(f"/teams/{team_id}/tags").json()["value"]
        return {
            t["displayName"]: {
                m["userId"] for m in http.get(f"/teams/{team_id}/tags/{t['id']}/members").json()["value"]
            }
            for t in tags
        }


def test_tags_follow_a_role_change(stack: Stack) -> None:
    import httpx

    store, pn = "0005", "000028"  # a worker at 0005 in the sample org
    assert stack.commerce is not None
    upn = next(w["upn"] for w in json.loads((SCENARIOS / "sample-org.json").read_text())["workers"]
               if w["personnel_number"] == pn)  # fmt: skip
    with httpx.Client(base_url=stack.graph.base_url, headers=stack.graph.auth_headers, timeout=30) as http:
        user_id = http.get(f"/users/{upn}").json()["id"]
    team_id = _teams(stack)[store]["team_id"]
    assert "Shift leads" not in _tags(stack, team_id)
    stack.commerce.apply(
        {"commerce": "change_job", "personnel_number": pn, "store": store, "job": "Shift lead"}
    )
    assert stack.converged(timeout=120)
    assert _tags(stack, team_id)["Shift leads"] == {user_id}
    stack.commerce.apply(
        {"commerce": "change_job", "personnel_number": pn, "store": store, "job": "Sales associate"}
    )
    assert stack.converged(timeout=120)
    assert "Shift leads" not in _tags(stack, team_id)  # nobody holds the role: the tag goes

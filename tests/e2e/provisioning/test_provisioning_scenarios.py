"""Provisioning end to end: Commerce changes → events → the app on the local host → Teams,
checked by reading Teams back through Graph (the scenario report), never the app's own state.

Each test plays a scenario (spec/local-and-cli.md) on a fresh local stack: the Graph and Commerce
sandboxes, and the local Functions host running function_app.py in its own process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local.scenarios.player import parse_scenario, provision_org, request_reconcile, run_scenario
from local.stack import Stack, StackConfig

pytestmark = pytest.mark.slow

SCENARIOS = Path(__file__).resolve().parents[3] / "local" / "scenarios"
SAMPLE = json.loads((SCENARIOS / "sample-org.json").read_text(encoding="utf-8"))
DIRECTORY = {u["upn"] for u in SAMPLE["directory"]}
UPN = {w["personnel_number"]: w.get("upn") for w in SAMPLE["workers"]}
ACTIVE = {w["personnel_number"] for w in SAMPLE["workers"] if w.get("status", "active") == "active"}

# The day's changes every variant below plays (and must end in the same Teams state).
CHANGES: list[dict[str, Any]] = [
    {
        "commerce": "hire_worker",
        "store": "0003",
        "role": "worker",
        "worker": {
            "personnel_number": "000500",
            "name": "Lee Park",
            "upn": "lee.park@contoso.example",
            "status": "active",
        },
    },
    {"commerce": "transfer_worker", "personnel_number": "000014", "from_store": "0001", "to_store": "0004"},
    {"commerce": "assign_worker", "personnel_number": "000026", "store": "0005", "role": "worker"},
    {"commerce": "change_role", "personnel_number": "000034", "store": "0001", "role": "manager"},
    {"commerce": "terminate_worker", "personnel_number": "000044"},
    {"commerce": "close_store", "store": "0009"},
    {"commerce": "close_store", "store": "0010"},
    {"commerce": "reopen_store", "store": "0010"},
    {"commerce": "rename_store", "store": "0006", "name": "Chicago Loop"},
    {"wait": "converged"},
    {"teams": "remove_member", "store": "0005", "upn": UPN["000028"]},
    {"wait": "converged"},
]


def _scenario(steps: list[dict[str, Any]], org: Any = "sample-org.json") -> Any:
    return parse_scenario({"org": org, "steps": steps}, source="test", base_dir=SCENARIOS)


def _teams(report: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    return {t["store"]: t for t in report["teams"] if t["store"] is not None}


def _comparable(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The Teams state a person sees, without ids the run itself chose."""
    return sorted(
        (
            {
                "store": t["store"],
                "display_name": t["display_name"],
                "archived": t["archived"],
                "owners": sorted(t["owners"]),
                "members": sorted(t["members"]),
                "channels": sorted(t["channels"]),
            }
            for t in report["teams"]
        ),
        key=lambda t: (t["store"] or "", t["display_name"]),
    )


def _problems(report: dict[str, Any], kind: str) -> set[tuple[str | None, str | None]]:
    return {(p.get("store"), p.get("personnel_number")) for p in report["problems"] if p["kind"] == kind}


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_scenario(_scenario([]), data_dir=tmp_path_factory.mktemp("first"))


@pytest.fixture(scope="module")
def changed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_scenario(_scenario(CHANGES), data_dir=tmp_path_factory.mktemp("changed"))


def test_first_provisioning_gives_each_store_with_a_manager_one_team(first: dict[str, Any]) -> None:
    assert first["timings"]["converged"]
    teams = _teams(first)
    for store in SAMPLE["stores"]:
        rows = [
            a
            for a in SAMPLE["assignments"]
            if a["store"] == store["number"] and a["personnel_number"] in ACTIVE
        ]
        managers = {UPN[a["personnel_number"]] for a in rows if a["role"] == "manager"} & DIRECTORY
        workers = {UPN[a["personnel_number"]] for a in rows if a["role"] != "manager"} & DIRECTORY
        if not managers:
            assert store["number"] not in teams
            continue
        team = teams[store["number"]]
        assert set(team["owners"]) == managers, store["number"]
        assert set(team["members"]) == workers - managers, store["number"]
        assert team["display_name"] == f"{store['name']} ({store['number']})"
        assert team["archived"] is False
    stores_with_managers = {a["store"] for a in SAMPLE["assignments"] if a["role"] == "manager"}
    assert set(teams) == stores_with_managers


def test_store_without_a_manager_is_reported_blocked_not_skipped(first: dict[str, Any]) -> None:
    assert ("0002", None) in _problems(first, "blocked: no owner")
    assert "0002" not in _teams(first)


def test_workers_without_an_entra_account_are_reported_unresolved(first: dict[str, Any]) -> None:
    missing = {w["personnel_number"] for w in SAMPLE["workers"] if w.get("upn") not in DIRECTORY}
    reported = {p for _, p in _problems(first, "unresolved identity")}
    assigned_to_open_store_with_team = {
        a["personnel_number"] for a in SAMPLE["assignments"] if a["store"] != "0002"
    }
    assert missing & assigned_to_open_store_with_team <= reported


def test_existing_team_is_adopted_never_duplicated(first: dict[str, Any]) -> None:
    existing = SAMPLE["existing_teams"][0]
    unmapped = [t["display_name"] for t in first["teams"] if t["store"] is None]
    assert unmapped == ["Store communications"], "a team was left over or created twice"
    team = _teams(first)[existing["store"]]
    assert set(existing["owners"]) <= set(team["owners"])  # the team people already had


def test_multi_store_worker_is_in_each_store_team(first: dict[str, Any]) -> None:
    stores = {a["store"] for a in SAMPLE["assignments"] if a["personnel_number"] == "000094"}
    teams = _teams(first)
    assert len(stores) > 1
    for store in stores:
        assert UPN["000094"] in teams[store]["owners"] + teams[store]["members"]


def test_org_changes_reach_teams(changed: dict[str, Any], first: dict[str, Any]) -> None:
    assert changed["timings"]["converged"]
    teams = _teams(changed)
    assert "lee.park@contoso.example" not in DIRECTORY  # hired without an Entra account yet
    assert ("0003", "000500") in _problems(changed, "unresolved identity")
    # transfer: out of the old store's team, into the new one
    assert UPN["000014"] not in teams["0001"]["members"] + teams["0001"]["owners"]
    assert UPN["000014"] in teams["0004"]["members"]
    # an additional store: in both teams
    assert UPN["000026"] in teams["0005"]["members"]
    assert UPN["000026"] in teams["0003"]["members"]
    # role change: member -> owner
    assert UPN["000034"] in teams["0001"]["owners"]
    # termination: in no team at all
    assert all(UPN["000044"] not in t["owners"] + t["members"] for t in changed["teams"])
    # closed -> archived (not deleted); closed then reopened -> not archived
    assert teams["0009"]["archived"] is True
    assert teams["0010"]["archived"] is False
    # rename in Commerce
    assert teams["0006"]["display_name"] == "Chicago Loop (0006)"


def test_member_removed_by_hand_is_put_back_by_the_drift_path(changed: dict[str, Any]) -> None:
    # No reconciliation ran in this scenario: the membership notification did it.
    teams = _teams(changed)
    assert UPN["000028"] in teams["0005"]["members"] + teams["0005"]["owners"]


def test_untidy_events_throttling_and_crashes_end_in_the_same_teams(
    changed: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    faults = [
        {"fault": "duplicate_events", "factor": 3},
        {"fault": "shuffle_events", "window": 4},
        {"fault": "graph_throttle", "ratio": 0.3, "seconds": 30},
    ]
    steps = [
        *faults,
        *CHANGES[:5],
        {"fault": "crash_host"},
        *CHANGES[5:9],
        {"fault": "crash_host"},
        *CHANGES[9:],
    ]
    report = run_scenario(_scenario(steps), data_dir=tmp_path_factory.mktemp("untidy"))
    assert report["timings"]["converged"]
    assert report["counters"]["throttled"] > 0
    assert _comparable(report) == _comparable(changed)


def test_reconciliation_repairs_hand_edits_and_strict_mode_removes_outsiders(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    outsider = UPN["000030"]  # works at another store
    steps = [
        {"teams": "add_member", "store": "0001", "upn": outsider},
        {"teams": "rename_team", "store": "0007", "name": "Boston (renamed by hand)"},
        {"wait": "converged"},
        {"reconcile": True},
        {"wait": "converged"},
    ]
    flexible = run_scenario(_scenario(steps), data_dir=tmp_path_factory.mktemp("flexible"))
    strict = run_scenario(
        _scenario(steps),
        data_dir=tmp_path_factory.mktemp("strict"),
        settings={"CTS_PROVISIONING__MEMBERSHIP_MODE": "strict"},
    )
    assert outsider in _teams(flexible)["0001"]["members"]  # flexible: people added by hand stay
    assert outsider not in _teams(strict)["0001"]["members"]
    for report in (flexible, strict):
        assert _teams(report)["0007"]["display_name"] == "Boston Downtown (0007)"


def test_mass_removal_is_held_and_reported(
    first: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    store = "0006"
    leavers = [
        a["personnel_number"] for a in SAMPLE["assignments"] if a["store"] == store and a["role"] == "worker"
    ][:7]
    steps = [
        *({"commerce": "terminate_worker", "personnel_number": p} for p in leavers),
        {"wait": "converged"},
    ]
    report = run_scenario(_scenario(steps), data_dir=tmp_path_factory.mktemp("mass"))
    assert (store, None) in _problems(report, "held: mass removal")
    before, after = _teams(first)[store], _teams(report)[store]
    assert sorted(after["members"]) == sorted(before["members"])


def test_reconciling_a_converged_org_makes_no_graph_writes(tmp_path: Path) -> None:
    with Stack(
        StackConfig(org=SCENARIOS / "sample-org.json", data_dir=tmp_path, port_base=0, graph_scale=0.2)
    ) as stack:
        assert provision_org(stack)["converged"]
        stack.graph.reset_counters()
        request_reconcile(stack, full=True)  # every team read (the nightly delta mode: test_nightly...)
        assert stack.converged(timeout=120)
        counters = stack.graph.counters()
    requests: dict[str, dict[str, int]] = counters["requests"]
    writes = {r: n for r, n in requests.items() if not r.startswith("GET ") and r != "POST /$batch"}
    assert writes == {}, writes
    reads = sum(sum(n.values()) for r, n in requests.items() if r != "POST /$batch")
    print(f"reconciliation of the converged sample org: {reads} Graph requests, 0 writes")
    by_route = {r: sum(n.values()) for r, n in requests.items()}
    print(by_route)
    # Per team: the group, the team, its members, channels and plans -- nothing else...
    teams = by_route["GET /teams/{id}"]
    per_team = ("GET /groups/{id}", "GET /groups/{id}/planner/plans", "GET /teams/{id}/channels",
                "GET /teams/{id}/members")  # fmt: skip
    assert teams >= 9 and all(by_route[r] == teams for r in per_team), by_route
    # ...and no lookup of people resolved before (the team record's identity cache): only UPNs
    # Entra does not know, and the people of a store that has no team (no record to keep them on).
    unknown = {w["upn"] for w in SAMPLE["workers"] if w.get("upn") and w["upn"] not in DIRECTORY}
    with_manager = {a["store"] for a in SAMPLE["assignments"] if a["role"] == "manager"}
    teamless = {a["personnel_number"] for a in SAMPLE["assignments"] if a["store"] not in with_manager}
    regions = {s["region"] for s in SAMPLE["stores"] if s["number"] not in with_manager}
    teamless |= {m for r in SAMPLE["regions"] if r["id"] in regions for m in r["managers"]}  # in its scope
    # People are looked up 15 to a request (`userPrincipalName in (...)`, shared/graph/users.py),
    # never one by one; a pass asks only for those it has not cached, so at most one request per
    # pass that has any (none of this org's teams has 15 such people), and no pass of a team
    # whose people all resolved before asks at all.
    looked_up = unknown | {UPN[p] for p in teamless if UPN[p]}
    assert by_route.get("GET /users/{id}", 0) == 0
    assert by_route.get("GET /users", 0) <= min(len(looked_up), teams + len(teamless))
    assert by_route.get("GET /users", 0) < teams

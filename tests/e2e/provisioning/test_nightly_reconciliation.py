"""The nightly reconciliation of a converged org costs O(changes), not O(org): counted by the
Graph and Commerce sandboxes on a 50-store / 1,000-worker org provisioned through the local host.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.scenarios.generate import dump_org, generate_org
from local.scenarios.player import provision_org, request_reconcile
from local.stack import Stack, StackConfig
from shared.state import teams as team_records
from shared.sync import records as sync_records

pytestmark = pytest.mark.slow

STORES = 50


def _graph_requests(stack: Stack) -> dict[str, int]:
    """Requests by route; what a $batch carries counts one each, the envelope not at all. The
    Planner task listings are task mirroring's own (they go on while the app is idle too)."""
    totals: dict[str, int] = stack.graph.counters()["totals"]
    return {r: n for r, n in totals.items() if "$batch" not in r and not r.startswith("GET /planner/plans/")}


def _nightly(stack: Stack) -> tuple[dict[str, Any], dict[str, int], int]:
    stack.graph.reset_counters()
    assert stack.commerce is not None
    stack.commerce.side.reset_counters()
    request_reconcile(stack)
    assert stack.converged(timeout=300)
    report = stack.loop.run(sync_records.get_report(stack.state()))
    commerce = stack.commerce.side.counters()
    return report, _graph_requests(stack), sum(commerce.values())


def test_a_converged_nightly_reconciliation_sends_o_changes_requests(tmp_path: Path) -> None:
    org = generate_org(stores=STORES, workers=STORES * 20, seed=3)
    (tmp_path / "org.json").write_text(dump_org(org), encoding="utf-8")
    config = StackConfig(
        org=tmp_path / "org.json", data_dir=tmp_path / "stack", port_base=0, graph_scale=0.05
    )
    with Stack(config) as stack:
        assert provision_org(stack, converge_timeout=600)["converged"]
        first = stack.loop.run(sync_records.get_report(stack.state()))
        assert first["mode"] == "full" and first["why"].startswith("first run")

        # The round after provisioning sees every write the provisioning made (all echoes of
        # what is wanted), the next one nothing: neither reads a team in full.
        for _ in range(2):
            report, graph, commerce = _nightly(stack)
            assert report["mode"] == "delta", report["why"]
            changed = len(report["stores"])
            print(f"nightly ({report['why']}): Graph {graph}, Commerce {commerce} requests")
            assert changed == 0, report.get("reasons")
            assert sum(graph.values()) <= 10 + math.ceil(changed / 20), graph
            assert set(graph) <= {"GET /groups/delta"}, graph
            # Commerce: bulk pages, not a slice per store. Seven entity sets (stores, workers,
            # assignments, hierarchy nodes and managers, worker roles, team mappings), each
            # under 1,000 rows here: one page of CTS_COMMERCE__PAGE_SIZE=1000 each.
            assert 0 < commerce <= 7, commerce

        # A hand edit the drift path does not see (notifications lost): the delta shows it and
        # only that team is read in full -- and repaired.
        team = stack.loop.run(team_records.get_team(stack.state(), "store:" + org["stores"][0]["number"]))
        assert team is not None
        graph, auth = f"{stack.graph.root_url}/v1.0", stack.graph.auth_headers
        members = httpx.get(f"{graph}/teams/{team.team_id}/members", headers=auth).json()["value"]
        member = sorted(m["userId"] for m in members if "owner" not in m["roles"])[0]
        for sub in httpx.get(f"{graph}/subscriptions", headers=auth).json()["value"]:
            httpx.delete(f"{graph}/subscriptions/{sub['id']}", headers=auth).raise_for_status()
        stack.graph.act("remove-member", teamId=team.team_id, userId=member)
        report, graph, _ = _nightly(stack)
        print(f"nightly after a hand edit ({report['why']}): Graph {graph}")
        assert list(report["stores"]) == [team.key], report.get("reasons")
        assert graph.get("GET /teams/{id}/members", 0) == 1, graph
        assert graph.get("POST /teams/{id}/members/add", 0) == 1, graph  # put back

        # An expired delta token (410 syncStateNotFound): every team is read, and the report says why.
        stack.graph.expire_delta_tokens()
        report, graph, _ = _nightly(stack)
        assert report["mode"] == "full" and "expired" in report["why"], report["why"]
        assert graph["GET /teams/{id}/members"] >= STORES, graph
        report, graph, _ = _nightly(stack)  # and the round after is a delta round again
        assert report["mode"] == "delta" and set(graph) == {"GET /groups/delta"}, (report["why"], graph)

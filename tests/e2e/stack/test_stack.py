"""The local stack end to end: start/stop, both sandboxes, the report read back through Graph,
crash_host, a poison event in the DLQ. One stack per module (about 10 s to start and provision)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local.scenarios.player import Player, provision_org, run_scenario
from local.scenarios.report import build_report
from local.stack import Stack, StackConfig

ORG = Path(__file__).with_name("org.json")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(org=ORG, data_dir=tmp_path_factory.mktemp("stack"), port_base=0, graph_scale=0.2)
    with Stack(config) as running:
        yield running


def test_both_sandboxes_and_the_host_answer(stack: Stack) -> None:
    users = httpx.get(f"{stack.graph.base_url}/users", headers=stack.graph.auth_headers).json()["value"]
    assert {u["userPrincipalName"] for u in users} >= {
        "ana.ruiz@contoso.example",
        "rita.west@contoso.example",
    }
    assert stack.commerce is not None
    stores = httpx.get(f"{stack.commerce.root_url}/data/RetailStores",
                       headers={"Authorization": "Bearer sandbox-token"}).json()["value"]  # fmt: skip
    assert len(stores) == 2
    assert httpx.get(stack.host_url + "/").json()["state"] == "Running"
    assert stack.settings["CTS_WEBHOOK__NOTIFICATION_URL"].endswith(
        f"?code={stack.webhook_keys['graph_notifications']}"
    )


def test_the_report_reads_the_existing_team_back_through_graph(stack: Stack) -> None:
    report = build_report(stack, timings={})
    seattle = [t for t in report["teams"] if t["store"] == "0042"]
    assert len(seattle) == 1
    team = seattle[0]
    assert team["team_id"] == stack.seeded_teams["0042"]
    assert "ana.ruiz@contoso.example" in team["owners"]
    assert "General" in team["channels"]
    assert set(report) >= {"teams", "commerce_tasks", "problems", "dead_letters", "counters", "timings"}
    assert json.dumps(report)  # serialisable as is


def test_provisioning_converges_and_maps_every_store(stack: Stack) -> None:
    initial = provision_org(stack, converge_timeout=60)
    assert initial["converged"], stack.last_busy
    stores = {t["store"] for t in build_report(stack, timings={})["teams"]}
    assert {"0042", "0043"} <= stores


def test_crash_host_kills_the_process_and_starts_it_again(stack: Stack) -> None:
    assert stack.host is not None
    player = Player(stack, converge_timeout=60)
    old = stack.host.pid
    player.play([{"fault": "crash_host"}, {"wait": "converged"}])
    assert stack.host.pid != old
    assert stack.host.starts == 2
    assert httpx.get(stack.host_url + "/").json()["state"] == "Running"
    assert player.log.converge_timeouts == []


def test_a_poison_event_is_dead_lettered_and_reported(stack: Stack) -> None:
    Player(stack, converge_timeout=60).play(
        [{"fault": "poison_event", "raw": "this is not json"}, {"wait": "converged"}]
    )
    dead = build_report(stack, timings={})["dead_letters"]
    assert len(dead) == 1
    # Dead-lettered at its first delivery by the quarantine, with the app's code as Service Bus's
    # DeadLetterReason (tests/e2e/stack/test_poison_quarantine.py has the details).
    assert (dead[0]["reason"], dead[0]["dead_letter_reason"]) == ("not_json", "not_json")
    assert dead[0]["description"] and not dead[0]["description"].startswith("Message could not")
    assert dead[0]["event_id"] is None
    assert dead[0]["delivery_count"] == 1
    # dlq_replay resends it (cts dlq replay --yes); still poison, so it comes back to the DLQ.
    player = Player(stack, converge_timeout=60)
    player.play([{"dlq_replay": True}, {"wait": "converged"}])
    assert player.log.steps[0]["result"].startswith("cts dlq replay --yes")
    again = build_report(stack, timings={})["dead_letters"]
    assert len(again) == 1 and again[0]["reason"] == "not_json"


def test_the_stack_stops_cleanly(tmp_path: Path) -> None:
    stack = Stack(StackConfig(org=ORG, data_dir=tmp_path / "s", port_base=0, graph_scale=0.2))
    stack.start()
    assert stack.host is not None and stack.commerce is not None
    host, ports = stack.host, [stack.host.port, int(stack.graph.root_url.rsplit(":", 1)[1]),
                               int(stack.commerce.root_url.rsplit(":", 1)[1])]  # fmt: skip
    stack.stop()
    assert host.process is not None and host.process.returncode == 0
    for port in ports:
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"


def test_run_scenario_plays_a_file_and_writes_the_report(tmp_path: Path) -> None:
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({"org": str(ORG), "steps": [
        {"teams": "rename_team", "store": "0042", "name": "Renamed by hand"},
        {"wait": "converged"},
    ]}), encoding="utf-8")  # fmt: skip
    out = tmp_path / "report.json"
    report = run_scenario(scenario, report_path=out, data_dir=tmp_path / "data", converge_timeout=60)
    assert json.loads(out.read_text())["teams"] == report["teams"]
    assert report["timings"]["converged"]
    assert report["timings"]["wall_seconds"] > 0
    assert {t["store"] for t in report["teams"]} >= {"0042", "0043"}
    assert report["run"]["steps"][0]["result"].startswith("team ")

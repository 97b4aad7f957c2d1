"""`cts explain` and `cts trace` on the local stack, through the real CLI (`python -m cts`):
a transfer, a termination, an unresolved identity and a held safety rail, each explained from
what Commerce and Teams say now (ops/explain reads like a pass and writes nothing)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.scenarios.player import provision_org
from local.stack import Stack, StackConfig

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
ORG = Path(__file__).with_name("org.json")
ANA, BEN, FAY, DEE, GUS, IVY, JO = "000321", "000322", "000330", "000331", "000332", "000341", "000342"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        org=ORG,
        data_dir=tmp_path_factory.mktemp("explain"),
        port_base=0,
        graph_scale=0.2,
        # 0044 (5 people) is guarded; 0042 and 0043 (3 in Teams) are below the minimum size.
        extra_settings={"CTS_PROVISIONING__MAX_REMOVAL_RATIO": "0.3"},
    )
    with Stack(config) as running:
        assert provision_org(running, converge_timeout=60)["converged"], running.last_busy
        yield running


def cts(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("CTS_")}
    env["PYTHONPATH"] = str(ROOT)
    command = [
        sys.executable,
        "-m",
        "cts",
        "--target",
        "local",
        "--data",
        str(stack.data),
        "--host",
        stack.host_url,
    ]
    return subprocess.run([*command, *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)


def explain(stack: Stack, *args: str) -> dict[str, Any]:
    run = cts(stack, "explain", *args, "--json")
    assert run.returncode == 0, run.stderr
    return dict(json.loads(run.stdout))


def change(stack: Stack, step: dict[str, Any]) -> None:
    assert stack.commerce is not None
    stack.commerce.apply(step)
    assert stack.converged(timeout=90), stack.last_busy


def test_desired_people_come_with_the_commerce_rows_that_put_them_there(stack: Stack) -> None:
    team = explain(stack, "store:0042")["team"]
    seats = {p["personnel_number"]: p for p in team["desired"]["people"]}
    assert seats[ANA]["role"] == "owner" and "manager" in seats[ANA]["why"]
    assert seats[ANA]["commerce_rows"] == [
        {
            "personnel_number": ANA,
            "store": "0042",
            "role": "manager",
            "active": True,
            "job": seats[ANA]["commerce_rows"][0]["job"],
        }
    ]
    assert (
        team["actual"] is not None
        and team["plan"] == []
        and team["last_pass"]["outcome"] in ("changed", "converged")
    )


def test_a_transfer_is_explained_in_both_stores(stack: Stack) -> None:
    change(
        stack,
        {"commerce": "transfer_worker", "personnel_number": BEN, "from_store": "0042", "to_store": "0043"},
    )
    data = explain(stack, "store:0043", BEN)
    teams = {t["key"]: t for t in data["person"]["teams"]}
    assert teams["store:0043"]["desired_as"] == ["member"]
    assert teams["store:0043"]["in_team_now"] is True
    assert [r["store"] for r in teams["store:0043"]["commerce_rows"]] == ["0043"]
    removed = {r["key"]: r["why"] for r in data["person"]["removed_from"]}
    assert removed.get("store:0042")
    old = explain(stack, "store:0042")["team"]
    assert BEN not in {p["personnel_number"] for p in old["desired"]["people"]}


def test_a_termination_is_explained_as_a_removal_with_its_date(stack: Stack) -> None:
    change(stack, {"commerce": "terminate_worker", "personnel_number": DEE})
    person = explain(stack, "store:0043", DEE)["person"]
    assert all(t["desired_as"] == [] for t in person["teams"])
    removed = {r["key"]: r["why"] for r in person["removed_from"]}
    assert "terminated" in removed["store:0043"] and DEE in removed["store:0043"]


def test_an_unresolved_identity_is_named(stack: Stack) -> None:
    data = explain(stack, "0043", GUS)
    unresolved = data["team"]["unresolved"]
    assert [p["personnel_number"] for p in unresolved] == [GUS]
    assert GUS not in {p["personnel_number"] for p in data["team"]["desired"]["people"]}
    mine = {t["key"]: t for t in data["person"]["teams"]}["store:0043"]
    assert [p["kind"] for p in mine["problems"]] == ["unresolved identity"]
    text = cts(stack, "explain", "0043", GUS)
    assert text.returncode == 0 and "unresolved identity" in text.stdout


def test_a_held_safety_rail_shows_the_operations_it_holds(stack: Stack) -> None:
    assert stack.host is not None and stack.commerce is not None
    stack.host.stop()  # both terminations reach the first pass together: 2 of 5 > 0.3
    stack.commerce.apply({"commerce": "terminate_worker", "personnel_number": IVY})
    stack.commerce.apply({"commerce": "terminate_worker", "personnel_number": JO})
    stack.host.start()
    assert stack.converged(timeout=90), stack.last_busy
    team = explain(stack, "store:0044")["team"]
    assert team["plan"] == []
    assert sorted(op["op"] for op in team["held"]) == ["remove_member", "remove_member"]
    assert any(p["kind"].startswith("held") for p in team["problems"])
    assert team["last_pass"]["outcome"] == "held"
    text = cts(stack, "explain", "store:0044")
    assert "held by a safety rail" in text.stdout and "remove_member" in text.stdout


def test_the_ops_page_opens_the_explanation_of_a_stores_row(stack: Stack) -> None:
    import os

    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    if not (Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists()):
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium and chromium-driver are missing: run `make browser`")
        pytest.skip("Debian's chromium is not installed (make browser)")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        browser.get(f"{stack.host_url}/api/ops")  # the key goes into the page's form, never the URL
        key_field = WebDriverWait(browser, 15).until(ec.visibility_of_element_located((By.ID, "ops-key")))
        key_field.send_keys(stack.function_key)
        browser.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
        row = WebDriverWait(browser, 30).until(
            ec.element_to_be_clickable((By.CSS_SELECTOR, 'tr.store[data-key="store:0044"] td.key'))
        )
        row.click()
        try:
            WebDriverWait(browser, 30).until(
                ec.text_to_be_present_in_element((By.CSS_SELECTOR, "tr.explain pre"), "last pass:")
            )
        finally:
            text = browser.find_element(By.CSS_SELECTOR, "tr.explain pre").text
            print("explanation shown:", text)
    finally:
        browser.quit()
    assert "team store:0044" in text and "owner 000340" in text
    assert "held by a safety rail:" in text and "remove_member" in text


def test_trace_prints_the_tree_of_one_event(stack: Stack) -> None:
    change(stack, {"commerce": "rename_store", "store": "0042", "name": "Seattle Downtown Two"})
    spans = [
        json.loads(line)
        for line in (stack.data / "host" / "telemetry" / "spans.jsonl").read_text().splitlines()
        if '"commerce event"' in line
    ]
    event_id = next(
        s["attributes"]["cts.event_id"]
        for s in reversed(spans)
        if s["attributes"].get("cts.team_keys") == ["store:0042"]
    )
    run = cts(stack, "trace", event_id, "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert len(data["traces"]) == 1
    root = data["spans"][0]
    assert root["name"] == "commerce_event"

    def names(node: dict[str, Any]) -> set[str]:
        return {node["name"]}.union(*(names(c) for c in node["children"]))

    everything = set().union(*(names(r) for r in data["spans"]))
    assert {"commerce event", "orchestration sync_team", "activity sync_team_pass"} <= everything
    assert any(n.split(" ")[-1].startswith("/v1.0/") for n in everything), everything  # Graph calls
    text = cts(stack, "trace", event_id)
    assert text.returncode == 0 and "activity sync_team_pass" in text.stdout
    missing = cts(stack, "trace", "no-such-event")
    assert missing.returncode == 1 and "no spans for event" in missing.stderr


def test_explain_and_trace_have_help() -> None:
    for command in (["explain", "--help"], ["trace", "--help"]):
        run = subprocess.run(
            [sys.executable, "-m", "cts", *command], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0 and "--json" in run.stdout

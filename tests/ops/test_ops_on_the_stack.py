"""The ops surface on the real local stack with the sample org: `cts status`, `cts reconcile`, and
the ops page in a real headless Chromium (Debian's `chromium` + `chromium-driver`, installed by
`make browser`): it loads without a key in its URL, takes the ops key in a form, lists the sample
org's stores, shows a dead letter, and its Replay button replays it after a confirmation.

Everything is served by the stack's own host running function_app.py, as `make run` does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import wait_for
from typer.testing import CliRunner

from cts.cli import app as cts_app
from local.scenarios.player import provision_org
from local.stack import Stack, StackConfig

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_ORG = ROOT / "local" / "scenarios" / "sample-org.json"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOT = ROOT / ".local" / "ops-page.png"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        org=SAMPLE_ORG, data_dir=tmp_path_factory.mktemp("stack"), port_base=0, graph_scale=0.2
    )
    with Stack(config) as running:
        assert provision_org(running, converge_timeout=60)["converged"], running.last_busy
        yield running


def url(stack: Stack, route: str, *, key: str | None = "function") -> str:
    """An app URL on the stack's host, with the function key, the master key or none."""
    code = {"function": stack.function_key, "master": stack.master_key, None: None}[key]
    return f"{stack.host_url}/api/{route}" + (f"?code={code}" if code else "")


def stores_of_the_sample_org() -> list[str]:
    return [s["number"] for s in json.loads(SAMPLE_ORG.read_text())["stores"]]


def cts(stack: Stack, *args: str) -> Any:
    result = CliRunner().invoke(cts_app, ["--data", str(stack.data), "--host", stack.host_url, *args])
    assert result.exit_code == 0, result.output
    return result


def test_cts_status_lists_every_store_of_the_sample_org_with_its_last_sync(stack: Stack) -> None:
    data = json.loads(cts(stack, "status", "--json").stdout)
    by_key = {t["key"]: t for t in data["teams"]}
    for number in stores_of_the_sample_org():
        team = by_key[f"store:{number}"]
        assert team["last_sync"] and team["outcome"] in ("converged", "changed", "blocked", "held"), team
    human = cts(stack, "status").stdout
    assert "store:0001" in human and "team(s)" in human
    one = json.loads(cts(stack, "status", "0001", "--json").stdout)
    assert one["team"]["key"] == "store:0001" and one["team"]["team_id"]


def test_cts_reconcile_dry_run_waits_and_prints_the_drift_report(stack: Stack) -> None:
    result = cts(stack, "reconcile", "--store", "0001", "--store", "0002", "--dry-run")
    assert "(dry run: nothing was changed): 2 team(s)" in result.stdout
    report = json.loads(cts(stack, "reconcile", "--store", "0003", "--dry-run", "--json").stdout)
    assert report["dry_run"] is True and set(report["stores"]) == {"store:0003"}


def _browser() -> Any:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium and chromium-driver are missing: run `make browser`")
        pytest.skip("Debian's chromium is not installed (make browser)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1100"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def test_the_ops_page_lists_stores_shows_a_dead_letter_and_replays_it(stack: Stack) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    stack.bus.send_raw(b"this is not json", message_id="poison-1")
    [dead] = wait_for(stack.bus.dead_letters, 30, "the poison event in the DLQ")
    browser = _browser()
    try:
        browser.get(url(stack, "ops", key=None))  # no key in the address bar, ever
        assert "operations" in browser.title
        key_field = WebDriverWait(browser, 15).until(ec.visibility_of_element_located((By.ID, "ops-key")))
        key_field.send_keys(stack.function_key)
        browser.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
        WebDriverWait(browser, 30).until(ec.presence_of_element_located((By.ID, "stores")))
        assert stack.function_key not in browser.current_url
        shown = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#stores td.key")]
        assert set(stores_of_the_sample_org()) <= set(shown)
        row = browser.find_element(By.CSS_SELECTOR, f'tr.dead-letter[data-seq="{dead.sequence_number}"]')
        assert "not_json" in row.text and "MaxDeliveryCountExceeded" not in row.text  # at once, our code
        SCREENSHOT.parent.mkdir(exist_ok=True)
        browser.set_window_size(1400, browser.execute_script("return document.body.scrollHeight + 120"))
        browser.save_screenshot(str(SCREENSHOT))  # the whole page, for a human to look at

        row.find_element(By.CSS_SELECTOR, "button.replay").click()
        WebDriverWait(browser, 5).until(ec.alert_is_present())
        browser.switch_to.alert.accept()  # Replay asks first
        WebDriverWait(browser, 15).until(
            ec.text_to_be_present_in_element((By.CSS_SELECTOR, "tr.dead-letter .result"), "replayed as")
        )
    finally:
        browser.quit()

    # The copy went to the same subscription; the app rejects it again (still poison), so it is
    # back in the DLQ as a new message that remembers where it came from.
    def back() -> list[Any]:
        return [m for m in stack.bus.dead_letters() if m.sequence_number != dead.sequence_number]

    [again] = wait_for(back, 30, "the replayed copy back in the DLQ")
    assert dead.sequence_number not in [m.sequence_number for m in stack.bus.dead_letters()]
    assert again.application_properties["x-original-message-id"] == "poison-1"
    assert again.application_properties["x-replay-count"] == 1
    audit = wait_for(lambda: stack.loop.run(stack.state().audit_trail("dlq")), 5, "the audit record")
    assert audit[-1]["action"] == "replay" and audit[-1]["actor"] == "http:ops/dlq/replay"
    page = httpx.get(url(stack, "ops/view") + "&format=json", timeout=30).json()
    assert [d["replay_count"] for d in page["dead_letters"]] == [1]


def test_the_dead_letter_functions_need_a_key_and_default_to_a_dry_run(stack: Stack) -> None:
    assert httpx.post(url(stack, "ops/dlq/replay", key=None), timeout=30).status_code == 401
    assert httpx.get(url(stack, "ops/view", key=None), timeout=30).status_code == 401
    before = [m.sequence_number for m in stack.bus.dead_letters()]
    dry = httpx.post(url(stack, "ops/dlq/replay"), timeout=30).json()
    assert dry["dry_run"] is True and dry["done"] == len(before)
    assert [m.sequence_number for m in stack.bus.dead_letters()] == before
    unfiltered = httpx.post(url(stack, "ops/dlq/replay") + "&dry_run=false", timeout=30)
    assert unfiltered.status_code == 400 and "needs a filter" in unfiltered.json()["error"]
    foreign = httpx.get(url(stack, "ops/dlq") + "&entity=someone-elses-queue", timeout=30)
    assert foreign.status_code == 400 and "not one of the app's" in foreign.json()["error"]
    assert [m.sequence_number for m in stack.bus.dead_letters()] == before
    bad = httpx.get(url(stack, "ops/dlq") + "&since=soon", timeout=30)
    assert bad.status_code == 400 and "bad --since" in bad.json()["error"]
    listed = httpx.get(url(stack, "ops/dlq") + "&reason=not_json", timeout=30)
    assert [d["sequence_number"] for d in listed.json()] == before


def test_cts_subscriptions_list_renew_and_recreate_on_the_stack(stack: Stack) -> None:
    # The keeper creates the drift subscriptions at host start (run_on_startup); wait for them.
    def ours() -> list[dict[str, Any]]:
        rows = json.loads(cts(stack, "subscriptions", "list", "--json").stdout)
        return [r for r in rows if r["ours"] and r["subscription_id"]]

    rows = wait_for(ours, 30, "the keeper's subscriptions")
    assert all(r["minutes_left"] > 0 for r in rows), rows
    assert all("code=" not in (r["notification_url"] or "") for r in rows), "a function key shown"
    ids = {r["subscription_id"] for r in rows}
    assert "min left" in cts(stack, "subscriptions", "list").stdout  # the human table

    first = rows[0]["subscription_id"]
    renewed = json.loads(cts(stack, "subscriptions", "renew", "--id", first, "--json").stdout)
    [one] = renewed["renewed"]
    assert one["subscription_id"] == first and one["now_id"] == first
    assert one["expiration"] >= rows[0]["expiration"]

    dry = json.loads(cts(stack, "subscriptions", "recreate", "--json").stdout)
    assert dry["dry_run"] is True and set(dry["would_delete"]) == ids
    assert {r["subscription_id"] for r in ours()} == ids  # a dry run changes nothing

    done = json.loads(cts(stack, "subscriptions", "recreate", "--yes", "--json").stdout)
    assert set(done["deleted"]) >= ids and len(done["created"]) == len(ids) and not done["failed"]
    now = {r["subscription_id"] for r in ours()}
    assert len(now) == len(ids) and not now & ids  # new ids, same resources

    base = ["--data", str(stack.data), "--host", stack.host_url]
    unknown = CliRunner().invoke(cts_app, [*base, "subscriptions", "renew", "--id", "nope"])
    assert unknown.exit_code != 0 and "nope" in unknown.output


def test_provisioning_mirrors_the_task_lists_commerce_already_published(stack: Stack) -> None:
    from local.scenarios.report import build_report

    sample = json.loads(SAMPLE_ORG.read_text())
    [published] = [t for t in sample["task_lists"] if t.get("stores")]
    titles = sorted(t["name"] for t in published["tasks"])
    plans = {t["store"]: t["plan"] for t in build_report(stack, timings={})["teams"] if t["store"]}
    with_team = [s for s in published["stores"] if s in plans]
    assert len(with_team) >= 2
    for store in with_team:
        shown = sorted(t["title"] for t in plans[store]["tasks"] if t["bucket"] == published["name"])
        assert shown == titles, (store, plans[store])
    pairs = httpx.get(url(stack, "ops/tasks"), timeout=30).json()
    outcomes = {row["key"]: (row["last_pass"] or {}).get("outcome") for row in pairs}
    for store in set(published["stores"]) - set(with_team):  # a store without a team: blocked, said
        assert {o for k, o in outcomes.items() if k.endswith(f"@{store}")} == {"blocked"}, outcomes


# -- issue #17: keys and privileges ----------------------------------------------------------------
def test_the_webhook_key_in_the_graph_url_opens_only_its_webhook(stack: Stack) -> None:
    key = stack.webhook_keys["graph_notifications"]
    assert stack.settings["CTS_WEBHOOK__NOTIFICATION_URL"].endswith(f"?code={key}")
    assert key not in stack.settings["CTS_WEBHOOK__LIFECYCLE_NOTIFICATION_URL"]
    base = f"{stack.host_url}/api"
    for method, route in (("POST", "ops/dlq/replay"), ("GET", "ops/view"), ("POST", "ops/reconcile"),
                          ("POST", "ops/subscriptions/recreate"), ("POST", "graph/lifecycle")):  # fmt: skip
        refused = httpx.request(method, f"{base}/{route}?code={key}&validationToken=x", timeout=30)
        assert refused.status_code == 401, route
    handshake = httpx.post(f"{base}/graph/notifications?code={key}&validationToken=abc", timeout=30)
    assert handshake.status_code == 200 and handshake.text == "abc"
    assert handshake.headers["x-content-type-options"] == "nosniff"


def test_the_ops_page_holds_no_data_without_a_key_and_sends_a_csp(stack: Stack) -> None:
    page = httpx.get(url(stack, "ops", key=None), timeout=30)
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert not any(f">{n}<" in page.text for n in stores_of_the_sample_org())
    assert "confirm(" in page.text and "code=" not in page.text
    view = httpx.get(f"{stack.host_url}/api/ops/view", headers={"x-functions-key": stack.function_key})
    assert view.status_code == 200 and all(f">{n}<" in view.text for n in stores_of_the_sample_org()[:3])


def test_reconcile_is_a_dry_run_by_default_and_returns_no_system_key(stack: Stack) -> None:
    started = httpx.post(url(stack, "ops/reconcile"), timeout=30)
    assert started.status_code == 202
    body = started.json()
    assert body["dry_run"] is True
    assert "code=" not in started.text and "statusQueryGetUri" not in body
    unscoped = httpx.post(url(stack, "ops/reconcile") + "&dry_run=false", timeout=30)
    assert unscoped.status_code == 400 and unscoped.json()["reason"] == "no_scope"
    bad = httpx.post(url(stack, "ops/reconcile") + "&store=../x", timeout=30)
    assert bad.status_code == 400 and bad.json()["reason"] == "invalid_id"


def test_the_logs_of_the_run_hold_no_upn_token_key_or_client_state(stack: Stack) -> None:
    """The host's log of this module's end-to-end run (provisioning the sample org, a poison
    event dead-lettered and replayed, ops calls, webhook handshakes) is scanned for personal data
    and secrets (docs/security.md, "What is logged")."""
    log = (stack.data / "host.log").read_text(errors="replace")
    assert "Executed" in log and "graph subscriptions kept" in log  # the run was really logged
    secrets = {
        "clientState": stack.settings["CTS_WEBHOOK__CLIENT_STATE"],
        "Graph token": stack.settings["CTS_GRAPH__STATIC_TOKEN"],
        "Commerce token": stack.settings["CTS_COMMERCE__STATIC_TOKEN"],
        "master key": stack.master_key,
        "host key": stack.function_key,
        **{f"{name} key": key for name, key in stack.webhook_keys.items()},
    }
    leaked = [what for what, value in secrets.items() if value and value in log]
    assert leaked == []
    # Nor on the host's command line (any local user reads it in ps): in a file only we can read.
    assert stack.host is not None and stack.host.pid is not None
    cmdline = Path(f"/proc/{stack.host.pid}/cmdline").read_bytes().decode(errors="replace")
    assert [what for what, value in secrets.items() if value and value in cmdline] == []
    assert stack.host.settings_file.stat().st_mode & 0o077 == 0
    directory = json.loads(SAMPLE_ORG.read_text())["directory"]
    upns = [p["upn"] for p in directory] + [p["upn"].lower() for p in directory]
    assert [u for u in upns if u in log] == []
    assert "Bearer " not in log and "code=" not in log

"""Telemetry end to end on the local stack: the host in its own process exports every span to
`<host data>/telemetry/spans.jsonl` (local/host/telemetry.py), read back here.

- One Commerce event -> exactly one trace: the host's trigger span, the app's "commerce event",
  the orchestration, its activities and the Graph calls they made.
- The log records of the pass name the event id, team key and instance id in the message text
  (the form the Python worker forwards; shared/telemetry/logs.py).
- A replayed dead letter starts a new trace that links the original delivery's trace.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.scenarios.player import Player, provision_org
from local.stack import Stack, StackConfig

pytestmark = pytest.mark.slow

ORG = Path(__file__).resolve().parents[1] / "stack" / "org.json"
ORIGINAL_TRACE = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(org=ORG, data_dir=tmp_path_factory.mktemp("telemetry"), port_base=0, graph_scale=0.2)
    with Stack(config) as running:
        assert provision_org(running, converge_timeout=60)["converged"], running.last_busy
        yield running


def spans(stack: Stack) -> list[dict[str, Any]]:
    path = stack.data / "host" / "telemetry" / "spans.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def wait_for_span(stack: Stack, predicate: Any, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [s for s in spans(stack) if predicate(s)]
        if found:
            return found[-1]
        time.sleep(0.2)
    raise AssertionError("no such span was exported")


def test_one_commerce_event_is_one_trace_from_trigger_to_graph(stack: Stack) -> None:
    before = {s["span_id"] for s in spans(stack)}
    assert stack.commerce is not None
    published = stack.commerce.apply(
        {"commerce": "rename_store", "store": "0043", "name": "Portland Pearl Two"}
    )
    assert published == 1
    assert stack.converged(timeout=60), stack.last_busy
    event = wait_for_span(
        stack,
        lambda s: (
            s["name"] == "commerce event" and s["span_id"] not in before and "cts.event_id" in s["attributes"]
        ),
    )
    orchestration = wait_for_span(
        stack, lambda s: s["name"] == "orchestration sync_team" and s["span_id"] not in before
    )
    new = [s for s in spans(stack) if s["span_id"] not in before]
    trace_id = event["trace_id"]
    in_trace = [s for s in new if s["trace_id"] == trace_id]
    names = {s["name"] for s in in_trace}

    trigger = next(s for s in in_trace if s["name"] == "commerce_event")
    assert trigger["parent_id"] is None and trigger["kind"] == "CONSUMER"  # the host's invocation span
    assert event["parent_id"] == trigger["span_id"]
    assert orchestration["trace_id"] == trace_id
    assert orchestration["attributes"]["cts.team_key"] == "store:0043"
    passes = [s for s in in_trace if s["name"] == "activity sync_team_pass"]
    assert passes and all(s["attributes"]["cts.instance_id"] == "sync-store-0043" for s in passes)
    graph = [
        s
        for s in in_trace
        if s["scope"] and "httpx" in s["scope"] and "/v1.0/" in s["attributes"].get("http.route", "")
    ]
    assert graph, names
    assert any(s["name"].startswith("PATCH /v1.0/") or s["name"].startswith("POST /v1.0/") for s in graph), (
        names
    )
    # Every Graph call of the pass hangs under the pass: nothing it caused went to another trace.
    by_id = {s["span_id"]: s for s in in_trace}
    for call in graph:
        chain, node = [], call
        while node["parent_id"] in by_id:
            node = by_id[node["parent_id"]]
            chain.append(node["name"])
        assert "activity sync_team_pass" in chain and chain[-1] == "commerce_event", chain
    team_passes = [
        s
        for s in new
        if s["name"] == "activity sync_team_pass" and s["attributes"]["cts.team_key"] == "store:0043"
    ]
    assert {s["trace_id"] for s in team_passes} == {trace_id}
    # Ids only: no UPN, mail address or display name anywhere in the trace.
    text = json.dumps(in_trace)
    assert "@" not in text and "Ana Ruiz" not in text


def test_the_pass_logs_name_event_team_and_instance_in_the_message(stack: Stack) -> None:
    assert stack.commerce is not None
    stack.commerce.apply({"commerce": "rename_store", "store": "0042", "name": "Seattle Downtown Two"})
    assert stack.converged(timeout=60), stack.last_busy
    event = wait_for_span(
        stack,
        lambda s: s["name"] == "commerce event" and s["attributes"].get("cts.team_keys") == ["store:0042"],
    )
    event_id = event["attributes"]["cts.event_id"]
    assert stack.host is not None
    log = stack.host.log_path.read_text(errors="replace")
    lines = [line for line in log.splitlines() if " teams pass " in line and f"event_id={event_id}" in line]
    assert lines, log[-2000:]
    # The message text itself (what the worker forwards to the host, #1327/#1681) carries the ids.
    line = lines[-1]
    assert re.search(r"team_key=store:0042\b", line)
    assert re.search(r"instance_id=sync-store-0042\b", line)
    assert f"trace_id={event['trace_id']}" in line
    assert "@" not in line


def test_a_replayed_dead_letter_links_its_original_trace(stack: Stack) -> None:
    original = f"00-{ORIGINAL_TRACE}-b7ad6b7169203331-01"
    Player(stack, converge_timeout=60).play([{"wait": "converged"}])
    stack.bus.send_raw(b"this is not json", application_properties={"Diagnostic-Id": original})
    first = wait_for_span(stack, lambda s: s["name"] == "commerce_event" and s["trace_id"] == ORIGINAL_TRACE)
    assert first["parent_id"] == "b7ad6b7169203331"  # the producer's span, from Diagnostic-Id
    deadline = time.monotonic() + 60
    while not stack.bus.dead_letters() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert stack.bus.dead_letters(), "the poison message was not dead-lettered"
    Player(stack, converge_timeout=60).play([{"dlq_replay": True}])
    replayed = wait_for_span(
        stack,
        lambda s: (
            s["name"] == "commerce event" and any(link["trace_id"] == ORIGINAL_TRACE for link in s["links"])
        ),
        timeout=60,
    )
    assert replayed["trace_id"] != ORIGINAL_TRACE  # a new trace for the replay ...
    link = next(link for link in replayed["links"] if link["trace_id"] == ORIGINAL_TRACE)
    assert link["span_id"] == "b7ad6b7169203331"  # ... that links the original delivery
    assert replayed["attributes"]["cts.outcome"] == "rejected"  # still poison: quarantined again
    assert replayed["attributes"]["cts.replay_of"] == ORIGINAL_TRACE

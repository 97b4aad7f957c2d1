"""The one log helper: ids in the message text (what the Python worker forwards) and as record
attributes (what the Azure Monitor distro turns into customDimensions); never personal data."""

from __future__ import annotations

import logging

import pytest

from shared import telemetry
from shared.bus.replay import replay_trace


def test_ids_are_in_the_message_text_and_on_the_record(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("cts.test")
    with caplog.at_level(logging.INFO, "cts.test"), telemetry.carried(event_id="EV-1"):
        telemetry.log_event(
            log, "sync pass", team_key="store:0042", instance_id="sync-store-0042", skipped=None
        )
    record = caplog.records[-1]
    assert record.getMessage() == "sync pass event_id=EV-1 team_key=store:0042 instance_id=sync-store-0042"
    assert record.__dict__["team_key"] == "store:0042" and record.__dict__["event_id"] == "EV-1"


def test_keys_that_name_a_person_are_refused() -> None:
    with pytest.raises(ValueError, match="upn"):
        telemetry.log_event(logging.getLogger("cts.test"), "x", upn="zoe@contoso.example")


def test_mail_addresses_in_values_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "cts.test"):
        telemetry.log_event(
            logging.getLogger("cts.test"), "graph error", error="user zoe@contoso.example not found"
        )
    assert "@" not in caplog.records[-1].getMessage()
    assert "[redacted]" in caplog.records[-1].__dict__["error"]


def test_the_pass_ids_follow_the_baggage_into_a_continued_span(caplog: pytest.LogCaptureFixture) -> None:
    with telemetry.carried(event_id="EV-2"):
        carrier = telemetry.carry()
    with caplog.at_level(logging.INFO, "cts.test"), telemetry.span("activity", parent=carrier):
        telemetry.log_event(logging.getLogger("cts.test"), "sync pass", team_key="store:0001")
    assert "event_id=EV-2" in caplog.records[-1].getMessage()


def test_a_replay_copy_keeps_the_original_traceparent() -> None:
    original = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    first = replay_trace({"Diagnostic-Id": original})
    assert first == {"cts-original-traceparent": original}  # untraced replay: new trace on delivery
    again = replay_trace({**first, "traceparent": "00-11111111111111111111111111111111-2222222222222222-01"})
    assert again["cts-original-traceparent"] == original  # a replay of a replay keeps the first

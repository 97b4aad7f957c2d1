"""The webhook's answers: handshake, refusal of bad bodies, clientState screening, what is queued."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from shared.drift.processing import read_message
from shared.drift.webhook import MESSAGE_SCHEMA, answer

SECRET = "s3cret-client-state"
ITEM = {
    "subscriptionId": "5a1f0c3e-0000-4000-8000-000000000001",
    "clientState": SECRET,
    "changeType": "deleted",
    "resource": "teams('t-1')/members('m-1')",
    "tenantId": "7c2d9e4f-0000-4000-8000-00000000000a",
}


def body(*items: dict[str, object]) -> bytes:
    return json.dumps({"value": list(items)}).encode()


def test_the_handshake_echoes_the_decoded_token_as_plain_text() -> None:
    token = "Validation: Testing client application reachability for subscription Request-Id: 1 & ?x=y"
    reply = answer(token, b"", SECRET)
    assert (reply.status, reply.body, reply.content_type, reply.message) == (200, token, "text/plain", None)


def test_an_empty_validation_token_is_refused() -> None:
    assert answer("", b"", SECRET).status == 400


def test_a_body_that_is_not_json_is_refused_and_nothing_is_queued() -> None:
    reply = answer(None, b"{oops", SECRET)
    assert reply.status == 400 and reply.message is None and reply.problem == "invalid-json"


def test_accepted_notifications_become_one_message_without_the_secret() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    reply = answer(None, body(ITEM, {**ITEM, "clientState": "forged"}), SECRET, now=now)
    assert (reply.status, reply.accepted, reply.dropped, reply.problem) == (
        202,
        1,
        1,
        "client-state-mismatch",
    )
    assert reply.message is not None and SECRET not in reply.message
    document = json.loads(reply.message)
    assert document["schema"] == MESSAGE_SCHEMA and document["received_at"] == now.isoformat()
    assert [n.subscription_id for n in read_message(reply.message)] == [
        "5a1f0c3e-0000-4000-8000-000000000001"
    ]


def test_all_mismatched_still_answers_202_and_queues_nothing() -> None:
    reply = answer(None, body({**ITEM, "clientState": "forged"}), SECRET)
    assert (reply.status, reply.message, reply.dropped) == (202, None, 1)


def test_without_a_configured_secret_everything_is_dropped() -> None:
    reply = answer(None, body(ITEM), "")
    assert (reply.status, reply.message, reply.problem) == (202, None, "client-state-not-configured")


@given(st.binary(max_size=300))
def test_any_body_gets_an_answer_and_never_leaks_the_secret(raw: bytes) -> None:
    reply = answer(None, raw, SECRET)
    assert reply.status in (202, 400)
    assert reply.message is None or SECRET not in reply.message
    assert SECRET not in reply.body


@given(st.lists(st.sampled_from([SECRET, "forged", None, ""]), max_size=6))
def test_exactly_the_matching_notifications_are_queued(states: list[str | None]) -> None:
    items = [
        {**ITEM, "clientState": s, "subscriptionId": f"5a1f0c3e-0000-4000-8000-{i:012d}"}
        for i, s in enumerate(states)
    ]
    reply = answer(None, body(*items), SECRET)
    expected = [f"5a1f0c3e-0000-4000-8000-{i:012d}" for i, s in enumerate(states) if s == SECRET]
    queued = [] if reply.message is None else [n.subscription_id for n in read_message(reply.message)]
    assert queued == expected and reply.dropped == len(states) - len(expected)

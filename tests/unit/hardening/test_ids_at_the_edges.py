"""Issue #17, injection and identifiers: every id that enters is checked once, with the rules of
shared/domain/ids.py, and a value that breaks them is rejected with a reason code at the edge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.commerce.client import CommerceClient
from shared.commerce.events import parse_message
from shared.commerce.mapping import RowMapper
from shared.domain.events import CommerceHint, Rejection
from shared.domain.ids import durable_id
from shared.domain.teams import TeamKey
from shared.graph.delta import first_url
from shared.mirror.keys import PairKey
from shared.mirror.keys import instance_id as mirror_instance_id
from shared.spine.features import team_instance_id as sync_instance_id
from shared.state.backend import InvalidKey, stored_key

FIXTURES = Path(__file__).parents[1] / "intake" / "fixtures"


def event(name: str, **changes: Any) -> bytes:
    document = json.loads((FIXTURES / name).read_bytes())
    document.update(changes)
    return json.dumps(document).encode("utf-8")


def task_event(**changes: Any) -> bytes:
    return event("be_task_changed.json", **changes)


def rejected(body: bytes, **kw: Any) -> Rejection:
    result = parse_message(body, **kw)
    assert isinstance(result, Rejection), result
    return result


# --- Commerce URL path injection ---------------------------------------------------------------


def test_a_task_list_id_with_dot_segments_is_rejected_at_intake() -> None:
    assert rejected(task_event(TaskListId="../../../../x?")).reason == "invalid_id"


async def test_commerce_store_task_keys_stay_inside_their_url_segment() -> None:
    sent: list[httpx.URL] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.url)
        return httpx.Response(404, json={"error": {"code": "", "message": "not found"}})

    client = CommerceClient.for_sandbox("https://fo.example", transport=httpx.MockTransport(answer))
    with pytest.raises(Exception):  # noqa: B017 - the 404's typed error; only the URL matters here
        await client.store_task("../../../../x?", "1", "0042")
    await client.aclose()
    assert len(sent) == 1
    url = sent[0]
    assert url.host == "fo.example"
    assert url.path.startswith("/data/CTSTasks(")
    assert url.raw_path.decode().count("/") == 2  # /data/<set>(<key>): nothing added a segment
    # Only the app's own query options: nothing of the key leaked into them.
    assert dict(url.params) == {
        "cross-company": "true",
        "$select": ",".join(client.fields.select("store_task")),
    }


# --- Graph ids from the mapping table, $filter quoting ------------------------------------------


def test_a_mapping_row_whose_team_id_is_not_a_guid_is_refused() -> None:
    rows = RowMapper()
    bad = {
        "SourceType": "RetailStore",
        "SourceId": "0042",
        "TeamId": "00000000-0000-0000-0000-000000000000/members?$top=1#",
    }
    assert rows.team_mapping(bad) is None
    assert rows.mapping_problem(bad) == ("invalid_id", "TeamId")
    good = {**bad, "TeamId": "6f1a2b3c-0000-4000-8000-000000000001"}
    assert rows.team_mapping(good) is not None


def test_group_ids_in_the_delta_filter_are_quoted_literals() -> None:
    url = first_url(["a' or displayName eq 'x", "b&$top=1"])
    query = httpx.URL("https://graph/v1.0/" + url).params
    assert query["$filter"] == "id eq 'a'' or displayName eq ''x' or id eq 'b&$top=1'"
    assert "$top" not in query


# --- ids the parser accepted that broke later ----------------------------------------------------


@pytest.mark.parametrize("field", ["StoreNumber", "TaskId", "TaskListId"])
def test_a_lone_surrogate_in_an_id_is_rejected_not_retried(field: str) -> None:
    assert rejected(task_event(**{field: "00\ud80042"})).reason == "invalid_id"


def test_a_lone_surrogate_in_a_state_key_is_a_clear_error() -> None:
    with pytest.raises(InvalidKey):
        stored_key("store:00\ud800")


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"TaskListId": "TL-1/T1", "TaskId": "1"}, "TaskListId"), ({"StoreNumber": "00@42"}, "StoreNumber")],
)
def test_ids_with_the_pair_key_separators_are_rejected(changes: dict[str, str], field: str) -> None:
    result = rejected(task_event(**changes))
    assert result.reason == "invalid_id" and field in result.description


def test_a_pair_key_cannot_be_built_from_ids_that_would_not_round_trip() -> None:
    with pytest.raises(ValueError):
        PairKey(task_list="TL-1", task="T/1", store="0042")
    with pytest.raises(ValueError):
        PairKey.parse("TL-1/T1@00@42")


commerce_ids = st.text(
    st.characters(categories=["L", "N"]) | st.sampled_from(list("-_.+()&")), min_size=1, max_size=64
)


@settings(max_examples=200, deadline=None)
@given(commerce_ids, commerce_ids, commerce_ids)
def test_pair_keys_of_valid_ids_round_trip(task_list: str, task: str, store: str) -> None:
    key = PairKey(task_list=task_list, task=task, store=store)
    assert PairKey.parse(str(key)) == key


def test_instance_ids_of_look_alike_store_numbers_are_distinct() -> None:
    ids = {sync_instance_id(TeamKey.store(n)) for n in ("00/42", "00_42", "00\x0042", "00 42", "00-42")}
    assert len(ids) == 5
    assert sync_instance_id(TeamKey.store("0042")) == "sync-store-0042"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120), st.text(max_size=120))
def test_instance_ids_never_collide_and_are_durable_safe(a: str, b: str) -> None:
    for make in (lambda k: durable_id("sync-", k), mirror_instance_id):
        first, second = make(a), make(b)
        assert (first == second) == (a == b)
        assert 1 <= len(first) <= 100 and not any(c in first for c in "/\\#?")
        assert first.isascii() and first.isprintable()


def test_an_oversize_event_id_is_rejected() -> None:
    assert rejected(task_event(EventId="E" * 260_000)).reason == "invalid_id"


def test_an_oversize_request_id_of_a_data_event_is_rejected() -> None:
    assert rejected(event("de_store_updated_virtual_table.json", RequestId="R" * 200_000)).reason == (
        "invalid_id"
    )


# --- ControlNumber and legal entity --------------------------------------------------------------


@pytest.mark.parametrize("number", [-5, 1.0, 1e30, 2**63])
def test_a_control_number_outside_int64_is_rejected(number: object) -> None:
    assert rejected(task_event(ControlNumber=number)).reason == "bad_control_number"


def test_the_largest_int64_control_number_is_accepted() -> None:
    assert isinstance(parse_message(task_event(ControlNumber=2**63 - 1)), CommerceHint)


def test_an_event_of_another_legal_entity_is_rejected() -> None:
    result = rejected(task_event(BusinessEventLegalEntity="DEMF"), legal_entities=["usrt"])
    assert result.reason == "other_legal_entity"
    assert isinstance(
        parse_message(task_event(BusinessEventLegalEntity="usrt"), legal_entities=["USRT"]), CommerceHint
    )


def test_a_data_event_of_another_legal_entity_is_rejected() -> None:
    body = event("de_store_updated_virtual_table.json")
    assert "usrt" in body.decode().lower()
    other = body.replace(b'"usrt"', b'"demf"').replace(b'"USRT"', b'"DEMF"')
    assert rejected(other, legal_entities=["USRT"]).reason == "other_legal_entity"


def test_a_blank_event_id_is_rejected_not_an_assertion_error() -> None:
    # found by `make fuzz`: the schema's minLength admits " ", and the parser asserted it away
    result = rejected(event("be_store_changed.json", EventId=" "))
    assert result.reason == "invalid_field" and "EventId" in result.description

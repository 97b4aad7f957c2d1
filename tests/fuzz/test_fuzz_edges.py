"""Fuzzing every edge where outside values enter (issue #17): Commerce events, Commerce mapping
rows, Graph notification POSTs, ops query parameters; and the rules every id must keep once in.

Properties: no exception escapes an edge; every rejection carries a known reason code; no value
changes a URL's path or query outside its own segment; distinct ids never share an instance id
or a state key. Budget: CTS_FUZZ_EXAMPLES per property (fuzz_strategies.py)."""

from __future__ import annotations

import json
from urllib.parse import unquote

import httpx
import pytest
from fuzz_strategies import (
    FUZZ,
    SECRET,
    TENANT,
    events,
    mapping_rows,
    nasty_text,
    notification_bodies,
    query_params,
)
from hypothesis import event, given
from hypothesis import strategies as st

from shared.bus.replay import DeadLetterFilter
from shared.commerce.catalog import RejectReason
from shared.commerce.events import parse_message
from shared.commerce.mapping import RowMapper
from shared.commerce.odata import key_segment
from shared.domain.commerce import TeamMapping
from shared.domain.events import CommerceHint, Rejection
from shared.domain.events import TestMessage as EndpointTest
from shared.domain.ids import commerce_id_problem, durable_id, event_id_problem, is_graph_guid, segment
from shared.domain.teams import TeamKey
from shared.drift.processing import read_message
from shared.drift.webhook import MAX_MESSAGE_BYTES, answer
from shared.graph.users import odata_quote
from shared.mirror.keys import PairKey
from shared.mirror.keys import instance_id as mirror_instance_id
from shared.ops.dlq import BadFilter, app_entities, parse_entities
from shared.ops.params import ParamProblem, ReconcileRequest, parse_dead_letter_selection, parse_reconcile
from shared.settings import Settings
from shared.spine.features import team_instance_id as sync_instance_id
from shared.state.backend import InvalidKey, stored_key

REASONS = {r.value for r in RejectReason}
WEBHOOK_REASONS = {
    "client-state-mismatch",
    "client-state-not-configured",
    "invalid-notification",
    "invalid-shape",
    "other-tenant",
    "oversize-notification",
}
PARAM_REASONS = {"invalid_id", "no_scope", "bad_filter", "bad_number", "too_many"}


def _one_segment(encoded: str, original: str) -> None:
    """`encoded` sits in a Graph URL as one path segment: the path has exactly the segments the
    template has, the segment decodes back to `original`, and the query is untouched."""
    url = httpx.URL(f"https://graph.example/v1.0/teams/{encoded}/members?$select=id")
    parts = url.raw_path.decode("ascii").split("?")[0].split("/")
    assert parts[:3] == ["", "v1.0", "teams"] and parts[4:] == ["members"] and len(parts) == 5
    assert unquote(parts[3], errors="surrogatepass") == original
    assert dict(url.params) == {"$select": "id"} and url.fragment == ""


# --- edge 1: Commerce events ----------------------------------------------------------------------
@FUZZ
@given(events())
def test_fuzz_commerce_events_never_raise_and_every_rejection_has_a_reason(body: bytes) -> None:
    result = parse_message(body, legal_entities=["USRT"])
    event(type(result).__name__)
    assert isinstance(result, CommerceHint | EndpointTest | Rejection)
    if isinstance(result, Rejection):
        event(f"reason {result.reason}")
        assert result.reason in REASONS
        assert result.event_id is None or event_id_problem(result.event_id) is None
        return
    if isinstance(result, EndpointTest):
        return
    assert event_id_problem(result.event_id) is None
    assert all(commerce_id_problem(v) is None for v in result.ids.values())
    stored_key(result.dedupe_key), stored_key(result.scope_key)  # storable: no InvalidKey
    if "store" in result.ids:
        assert sync_instance_id(TeamKey.store(result.ids["store"])).startswith("sync-store-")
    if {"task_list", "task", "store"} <= set(result.ids):
        key = PairKey(task_list=result.ids["task_list"], task=result.ids["task"], store=result.ids["store"])
        assert PairKey.parse(str(key)) == key
        url = httpx.URL("https://fo.example/data/CTSTasks" + key_segment(result.ids))
        assert url.raw_path.decode().count("/") == 2 and url.query == b""


# --- edge 2: Commerce mapping rows ----------------------------------------------------------------
@FUZZ
@given(mapping_rows())
def test_fuzz_mapping_rows_give_a_usable_mapping_or_a_reason(row: dict[str, object]) -> None:
    rows = RowMapper()
    mapping = rows.team_mapping(row)
    problem = rows.mapping_problem(row)
    event("mapping" if mapping is not None else f"refused: {problem}")
    if problem is not None:
        assert problem[0] in REASONS and mapping is None
    if mapping is not None:
        assert isinstance(mapping, TeamMapping) and is_graph_guid(mapping.team_id)
        _one_segment(segment(mapping.team_id), mapping.team_id)


# --- edge 3: Graph notification POSTs -------------------------------------------------------------
@FUZZ
@given(notification_bodies())
def test_fuzz_the_webhook_never_raises_and_accounts_for_every_item(body: bytes) -> None:
    reply = answer(None, body, SECRET, tenant_id=TENANT)
    event(f"status {reply.status}")
    assert reply.status in (202, 400)
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    if reply.status == 400:
        assert reply.messages == () and reply.problem in {"invalid-json", "invalid-shape"}
        return
    items = json.loads(body)["value"]
    assert reply.accepted + reply.dropped == len(items)
    assert set(reply.reasons) <= WEBHOOK_REASONS and sum(reply.reasons.values()) == reply.dropped
    queued = [n for m in reply.messages for n in read_message(m)]
    assert len(queued) == reply.accepted
    assert all(len(m.encode()) <= MAX_MESSAGE_BYTES for m in reply.messages)
    assert all(SECRET not in m for m in reply.messages)


@FUZZ
@given(nasty_text)
def test_fuzz_validation_tokens_are_echoed_as_text_or_refused(token: str) -> None:
    reply = answer(token, b"", SECRET)
    assert reply.status in (200, 400) and reply.content_type == "text/plain"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.status == 400 or reply.body == token


# --- edge 4: ops query parameters -----------------------------------------------------------------
@FUZZ
@given(query_params)
def test_fuzz_ops_query_parameters_parse_or_give_a_reason(params: dict[str, str]) -> None:
    for parse, ok in ((parse_reconcile, ReconcileRequest), (parse_dead_letter_selection, DeadLetterFilter)):
        result = parse(params)
        event(f"{parse.__name__}: {getattr(result, 'reason', 'ok')}")
        assert isinstance(result, ok | ParamProblem)
        if isinstance(result, ParamProblem):
            assert result.reason in PARAM_REASONS
        elif isinstance(result, ReconcileRequest):
            assert all(commerce_id_problem(s) is None for s in result.stores)
            assert (
                result.dry_run
                or result.stores
                or params.get("all", "").strip().lower() not in ("", "0", "false", "no")
            )
            for store in result.stores:
                _one_segment(segment(store), store)


@FUZZ
@given(st.lists(nasty_text, max_size=3))
def test_fuzz_entity_parameters_name_only_the_apps_entities(texts: list[str]) -> None:
    own = app_entities(Settings())
    try:
        refs = parse_entities(texts, allowed=own)
    except BadFilter:
        event("refused")
        return
    assert refs is None or {r.path for r in refs} <= {r.path for r in own}


# --- ids once they are in: URL segments, $filter literals, keys -----------------------------------
@FUZZ
@given(nasty_text)
def test_fuzz_no_value_leaves_its_url_segment_or_filter_literal(value: str) -> None:
    try:
        encoded = segment(value)
    except ValueError:
        event("refused (empty or not Unicode text)")
        assert value == "" or any("\ud800" <= c <= "\udfff" for c in value)
        return
    _one_segment(encoded, value)
    literal = odata_quote(value)
    url = httpx.URL(f"https://graph.example/v1.0/groups?$filter=id%20eq%20{literal}&$select=id")
    assert dict(url.params) == {"$filter": "id eq '" + value.replace("'", "''") + "'", "$select": "id"}
    commerce = httpx.URL("https://fo.example/data/CTSTasks" + key_segment({"TaskListId": value}))
    assert commerce.raw_path.decode().count("/") == 2 and commerce.query == b""


@FUZZ
@given(nasty_text, nasty_text)
def test_fuzz_distinct_ids_never_share_an_instance_id_or_a_state_key(a: str, b: str) -> None:
    for make in (
        lambda k: sync_instance_id(TeamKey.store(k)),
        mirror_instance_id,
        lambda k: durable_id("records-", k),
    ):
        first, second = make(a), make(b)
        assert (first == second) == (a == b)
        assert 1 <= len(first) <= 100 and not any(c in first for c in "/\\#?") and first.isprintable()
    try:
        ka, kb = stored_key(a), stored_key(b)
    except InvalidKey:
        event("state key refused (surrogate or over 1 KiB)")
        return
    assert (ka == kb) == (a == b)
    assert unquote(ka) == a and not any(c in ka for c in "/\\#?") and ka.isprintable()


@pytest.mark.parametrize("store", ["00/42", "00_42", "00\x0042", "00 42"])
def test_look_alike_store_numbers_have_their_own_instance(store: str) -> None:
    others = {"00/42", "00_42", "00\x0042", "00 42"} - {store}
    assert sync_instance_id(TeamKey.store(store)) not in {sync_instance_id(TeamKey.store(o)) for o in others}

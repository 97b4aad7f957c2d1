"""Hypothesis strategies for the fuzz suite: what a careless upstream or an attacker could send to
each edge. The budget per property is `CTS_FUZZ_EXAMPLES` (default 100, the size `make test`
runs, a few seconds; `make fuzz` runs 5,000 per property, about ten minutes on 2 cores)."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("CTS_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "intake" / "fixtures"
SAMPLES = {p.name: json.loads(p.read_bytes()) for p in sorted(FIXTURES.glob("*.json"))}

# Characters that have a meaning somewhere downstream: URL syntax, OData quoting, the app's key
# separators, Table-key forbidden characters, controls, invisible and bidi marks, lone surrogates.
NASTY = [*"/\\?#%@:,=&'\"()<>|*.+ ~;$!", "\x00", "\x1f", "\x7f", "\u200b", "\ufeff", "\u202e", "\ud800",
         "\udfff", "..", "%2F", "%00", "%27", "''", "é", "ß", "中", "😀"]  # fmt: skip
LANDMINES = ["", " ", "0042", "TL-1/T1@00@42", "../../../../x?", "00\x0042", "00/42", "00_42", "\ud800",
             "a" * 64, "a" * 65, "E" * 129, "x?cross-company=true#", "' or 1 eq 1 or '",
             "0f6d9c1e-1111-4d2b-9a5e-2b8c7d6e5f40/members?$top=1#"]  # fmt: skip

nasty_text = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=3)), max_size=24).map("".join),
    st.sampled_from(LANDMINES),
    st.integers(min_value=60, max_value=3000).map(lambda n: "Z" * n),
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=2**62, max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([-5, 0, 1.0, 1e30, 2**63 - 1, 2**63, True, False]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, nasty_text)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(nasty_text, inner, max_size=3),
    max_leaves=12,
)
guids = st.uuids().map(str)


@st.composite
def events(draw: st.DrawFn) -> bytes:
    """A fixture event with some fields replaced (ids, ControlNumber, EventId, legal entity...),
    or something that is not an event at all."""
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "data", "raw"]))
    if kind == "raw":
        return draw(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())))
    name = draw(st.sampled_from([n for n in SAMPLES if n.startswith("be_" if kind == "mutated" else "de_")]))
    doc: dict[str, Any] = json.loads(json.dumps(SAMPLES[name]))
    fields = (
        sorted(doc) if kind == "mutated" else ["RequestId", "CorrelationId", "OperationId", "MessageName"]
    )
    for field in draw(st.lists(st.sampled_from(fields), max_size=4, unique=True)):
        doc[field] = draw(st.one_of(nasty_text, json_values))
    if kind == "data":
        # the key attributes deep inside Target
        text = json.dumps(doc)
        for landmine in draw(st.lists(nasty_text, max_size=2)):
            text = text.replace('"0042"', json.dumps(landmine), 1)
        return text.encode("utf-8", "surrogatepass")
    return json.dumps(doc).encode("utf-8", "surrogatepass")


SOURCE_TYPES = ["RetailStore", "RetailRegion", "RetailCommunications"]
LIFECYCLE = ["missed", "subscriptionRemoved", "reauthorizationRequired"]


@st.composite
def mapping_rows(draw: st.DrawFn) -> dict[str, Any]:
    row: dict[str, Any] = {
        "SourceType": draw(
            st.one_of(st.sampled_from(["RetailStore", "RetailRegion", "RetailCommunications"]), nasty_text)
        ),
        "SourceId": draw(st.one_of(st.sampled_from(["0042", "WEST", "all"]), nasty_text, json_values)),
        "TeamId": draw(st.one_of(guids, nasty_text, json_values)),
    }
    for key in draw(st.lists(st.sampled_from(list(row)), max_size=1)):
        del row[key]
    return row


SECRET = "fuzz-client-state-secret"
TENANT = "7c2d9e4f-0000-4000-8000-00000000000a"


@st.composite
def notification_items(draw: st.DrawFn) -> Any:
    good: dict[str, Any] = {
        "subscriptionId": draw(guids),
        "clientState": draw(st.sampled_from([SECRET, SECRET, SECRET, "forged", None, "\ud800"])),
        "changeType": draw(st.sampled_from(["created", "updated", "deleted"])),
        "resource": f"teams('{draw(guids)}')/members('{draw(st.text(max_size=30))}')",
        "tenantId": draw(st.sampled_from([TENANT, TENANT, draw(guids)])),
        "resourceData": {"id": draw(st.text(max_size=20))},
    }
    if draw(st.booleans()):
        good = {k: v for k, v in good.items() if k != "changeType"} | {
            "lifecycleEvent": draw(
                st.sampled_from(["missed", "subscriptionRemoved", "reauthorizationRequired"])
            )
        }
    how = draw(st.sampled_from(["good", "good", "mutated", "junk"]))
    if how == "junk":
        return draw(json_values)
    if how == "mutated":
        for key in draw(st.lists(st.sampled_from(sorted(good)), min_size=1, max_size=3, unique=True)):
            good[key] = draw(json_values)
    return good


@st.composite
def notification_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["batch", "batch", "batch", "deep", "raw"]))
    if kind == "deep":
        return b"[" * draw(st.integers(min_value=1000, max_value=200_000))
    if kind == "raw":
        return draw(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())))
    items = draw(st.lists(notification_items(), max_size=12))
    return json.dumps({"value": items}).encode("utf-8", "surrogatepass")


QUERY_NAMES = ["store", "dry_run", "all", "reason", "event_type", "since", "until", "seq", "limit", "entity"]
query_params = st.dictionaries(
    st.one_of(st.sampled_from(QUERY_NAMES), nasty_text),
    st.one_of(nasty_text, st.lists(nasty_text, max_size=4).map(",".join), numbers.map(str)),
    max_size=6,
)


def new_guid() -> str:
    return str(uuid.uuid4())

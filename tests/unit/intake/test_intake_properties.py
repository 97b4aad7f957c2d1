"""parse_message never raises: any bytes, any JSON, any mangled event gives one of three results."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from intake_fixtures import FIXTURES

from shared.commerce.events import parse_message
from shared.domain.events import CommerceHint, Rejection
from shared.domain.events import TestMessage as EndpointTest

RESULTS = (CommerceHint, EndpointTest, Rejection)
SAMPLES = [json.loads(p.read_bytes()) for p in sorted(FIXTURES.glob("*.json"))]
FIELDS = sorted({k for s in SAMPLES for k in s} | {"Attributes", "key", "value", "KeyAttributes"})

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def check(data: bytes) -> None:
    result = parse_message(data, content_type=None, application_properties={})
    assert isinstance(result, RESULTS)
    if isinstance(result, Rejection):
        assert result.reason and len(result.description) <= 4096


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes(data: bytes) -> None:
    check(data)
    check(b"\xef\xbb\xbf" + data)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json(value: Any) -> None:
    check(json.dumps(value).encode())


def _mutate(sample: dict[str, Any], key: str, value: Any, drop: bool) -> dict[str, Any]:
    """Replace or remove one field, and the first attribute of a data event's Target."""
    out = json.loads(json.dumps(sample))
    if drop:
        out.pop(key, None)
    else:
        out[key] = value
    params = out.get("InputParameters")
    params = params if isinstance(params, list) else []
    target = next((p.get("value") for p in params if isinstance(p, dict)), None)
    if isinstance(target, dict) and isinstance(target.get("Attributes"), list) and target["Attributes"]:
        target["Attributes"][0]["value"] = value
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.sampled_from(FIELDS), json_values, st.booleans())
def test_mangled_real_events(sample: dict[str, Any], key: str, value: Any, drop: bool) -> None:
    check(json.dumps(_mutate(sample, key, value, drop)).encode())

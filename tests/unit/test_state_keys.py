"""State keys as stored (shared/state/backend.py `stored_key`): the run-by-run encoding gives exactly
what `urllib.parse.quote(key, safe=KEY_SAFE)` gives, for any text, and refuses what it refuses."""

from __future__ import annotations

import os
from urllib.parse import quote

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shared.state.backend import KEY_SAFE, MAX_KEY_BYTES, InvalidKey, stored_key

EXAMPLES = int(os.environ.get("CTS_FUZZ_EXAMPLES", "500"))


def quoted(value: str) -> str | type[InvalidKey]:
    """What `stored_key` gave when it called `quote` itself (before 2026-12-07)."""
    try:
        encoded = quote(value, safe=KEY_SAFE)
    except UnicodeEncodeError:
        return InvalidKey
    return InvalidKey if len(encoded.encode("utf-16-le")) > MAX_KEY_BYTES else encoded


def stored(value: str) -> str | type[InvalidKey]:
    try:
        return stored_key(value)
    except InvalidKey:
        return InvalidKey


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=()), max_size=600))
@example("team:19:abc@thread.tacv2/user:6a3c9e1f-2b4d-4c8a-9e7f-1a2b3c4d5e6f/created")
@example("store:00\ud800")  # a lone surrogate
@example("é/ü#?%\x00\x7f ~*'&$!=;,+()@_-.:")
@example("/" * 171)  # 513 characters as stored: over 1 KiB in UTF-16
def test_stored_key_encodes_as_quote_does(value: str) -> None:
    assert stored(value) == quoted(value)


@pytest.mark.parametrize(("key", "expected"), [("a/b", "a%2Fb"), ("ü", "%C3%BC"), ("a b:c", "a b:c")])
def test_stored_key_examples(key: str, expected: str) -> None:
    assert stored_key(key) == expected

"""Identifier rules, written once: what an id from outside may be before it becomes a key, a URL
path segment, a `$filter` literal or a Durable instance id. Pure: no I/O.

Every edge (Commerce events, Commerce rows, Graph notifications, HTTP query parameters) checks the
ids it lets in with these rules, so nothing downstream has to guess:

- `commerce_id_problem` / `CommerceId`: a Commerce alternate key (StoreNumber, PersonnelNumber,
  TaskListId, TaskId, RegionId...). 1-64 characters (the catalog's schemas allow 64), letters,
  digits, marks and `-_. +()&`; no leading or trailing space. That excludes control characters,
  lone surrogates (not encodable as UTF-8: Table keys and URLs need UTF-8) and every separator
  the app's own keys use (`/` and `@` in pair keys, `,` and `=` in scope keys, `:` in team keys),
  so keys built from valid ids always parse back into the same ids.
- `event_id_problem`: an event/request id, at most `MAX_EVENT_ID` characters, printable.
- `is_graph_guid` / `GraphGuid`: Entra object ids (teams/groups, tenants, subscriptions) are GUIDs.
- `segment`: one URL path segment, percent-encoded (RFC 3986 unreserved characters only), so no
  value can add a segment, a query or a fragment.
- `odata_string`: the one OData string literal (`'` doubled, OData v4 ABNF `SQUOTE-in-string`).
- `durable_id`: an injective, Durable-safe spelling of a key for instance ids.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Annotated
from urllib.parse import quote

from pydantic import AfterValidator

MAX_COMMERCE_ID = 64
"""The `maxLength` of every id field in the catalog's schemas (shared/commerce/catalog/schemas)."""

MAX_EVENT_ID = 128
"""Event ids become Table keys (the dedupe record, `StateStore.mark_event`): Azure Table
PartitionKey/RowKey are at most 1 KiB
(https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model),
and Table strings are UTF-16. 128 printable ASCII characters stay under 1 KiB even when every one
is percent-encoded (3 characters each). F&O EventIds and Dataverse RequestIds are GUIDs (36)."""

MAX_DURABLE_ID = 100
"""Durable Functions instance ids: 1-100 characters, not starting with '@', without '/', '\\', '#',
'?' or control characters
(https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-orchestrations#orchestration-identity)."""

_ALLOWED_PUNCTUATION = frozenset("-_. +()&")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DURABLE_SAFE = re.compile(r"[A-Za-z0-9.-]")


def commerce_id_problem(value: object) -> str | None:
    """Why `value` is not a valid Commerce id (phrased without the value), or None."""
    if not isinstance(value, str):
        return "not a string"
    if not value:
        return "empty"
    if len(value) > MAX_COMMERCE_ID:
        return f"longer than {MAX_COMMERCE_ID} characters"
    if value != value.strip():
        return "leading or trailing whitespace"
    for char in value:
        if "\ud800" <= char <= "\udfff":
            return "a lone surrogate (not encodable as UTF-8)"
        if char in _ALLOWED_PUNCTUATION:
            continue
        if unicodedata.category(char)[0] not in "LMN":
            return f"character U+{ord(char):04X} is not allowed (letters, digits and '-_. +()&' are)"
    return None


def event_id_problem(value: object) -> str | None:
    """Why `value` is not a usable event or request id (printable ASCII, at most
    `MAX_EVENT_ID` characters), or None."""
    if not isinstance(value, str):
        return "not a string"
    if not value.strip():
        return "empty"
    if len(value) > MAX_EVENT_ID:
        return f"longer than {MAX_EVENT_ID} characters"
    if not all(" " <= c <= "~" for c in value):
        return "a character outside printable ASCII (control character, lone surrogate...)"
    return None


def is_graph_guid(value: object) -> bool:
    return isinstance(value, str) and _GUID.fullmatch(value) is not None


def _check_commerce_id(value: str) -> str:
    problem = commerce_id_problem(value)
    if problem is not None:
        raise ValueError(f"not a valid Commerce id: {problem}")
    return value


def _check_guid(value: str) -> str:
    if not is_graph_guid(value):
        raise ValueError("not a GUID")
    return value


CommerceId = Annotated[str, AfterValidator(_check_commerce_id)]
GraphGuid = Annotated[str, AfterValidator(_check_guid)]


def segment(value: str) -> str:
    """One URL path segment: everything but RFC 3986 unreserved characters percent-encoded (as
    msgraph-sdk's RFC 6570 URL templates do for `{team%2Did}`), so `/`, `?`, `#`, `%` and `..` in a
    value stay inside the segment. Raises ValueError for a value that is not valid Unicode text."""
    if not value:
        raise ValueError("an empty path segment would change the URL's path")
    try:
        encoded = quote(value, safe="")
    except UnicodeEncodeError:
        raise ValueError("a path segment must be valid Unicode text (lone surrogate)") from None
    # '.' and '..' are unreserved but are dot-segments that clients and servers resolve away.
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def odata_string(value: str) -> str:
    """An OData string literal: single-quoted, `'` doubled (OData ABNF `SQUOTE-in-string`)."""
    return "'" + value.replace("'", "''") + "'"


def durable_id(prefix: str, key: str) -> str:
    """`<prefix><encoded key>`, an instance id that is distinct for distinct keys and Durable-safe.

    Letters, digits, '.' and '-' stay; every other character becomes `_XX` per UTF-8 byte (so
    `00_42` and `00/42` give different ids). A key too long for `MAX_DURABLE_ID` becomes `__`
    plus 32 hex digits of its SHA-256 (the encoding never yields `__`, so the two forms cannot
    meet; a collision would need a SHA-256 collision on 128 bits)."""
    encoded = "".join(
        c if _DURABLE_SAFE.fullmatch(c) else "".join(f"_{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
        for c in key
    )
    if len(prefix) + len(encoded) <= MAX_DURABLE_ID:
        return prefix + encoded
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{prefix}__{digest}"

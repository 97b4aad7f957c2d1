"""OData v4 URL pieces as F&O accepts them: literals, `$filter` terms, entity keys.

F&O does not support the OData 4.01 `in` operator, so "one of these values" is an `or` chain;
`or_chains` keeps each chain short enough for the URL length limits of IIS/F&O (`chunks_of`:
the same by count alone, for the Dataverse client's short ids).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from urllib.parse import quote

from shared.domain.ids import odata_string, segment

#: Values per `or` chain: keeps URLs well under 2,048 characters for ~10-character keys.
MAX_OR_TERMS = 40
#: The longest query string a read sends (`or_chains`): 2,048 is IIS's default request-filtering
#: `maxQueryString` (https://learn.microsoft.com/iis/configuration/system.webserver/security/requestfiltering/requestlimits/,
#: answered 404.15 beyond it). F&O publishes no limit of its own; this is the conservative one.
MAX_QUERY_STRING = 2048
#: Kept free in a first page's query string for what the service's `@odata.nextLink` adds to it
#: (`&$skip=<rows>`): page 2 of a read must fit too.
NEXT_LINK_ROOM = 32


def literal(value: str | int | bool | None) -> str:
    """An OData literal: strings single-quoted with '' escaping."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return odata_string(str(value))


def eq(field: str, value: str | int | bool | None) -> str:
    return f"{field} eq {literal(value)}"


def one_of(field: str, values: Sequence[str]) -> str:
    """`(f eq 'a' or f eq 'b')` — F&O's substitute for `f in ('a','b')`."""
    if not values:
        raise ValueError("one_of needs at least one value")
    if len(values) == 1:
        return eq(field, values[0])
    return "(" + " or ".join(eq(field, v) for v in values) + ")"


def all_of(*terms: str | None) -> str | None:
    parts = [t for t in terms if t]
    if not parts:
        return None
    return " and ".join(f"({p})" if " or " in p and not p.startswith("(") else p for p in parts)


def chunks_of(values: Iterable[str], size: int = MAX_OR_TERMS) -> Iterator[list[str]]:
    batch: list[str] = []
    for value in dict.fromkeys(values):  # dedupe, keep order
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def encoded_length(text: str) -> int:
    """Characters `text` takes in a query string, percent-encoded (every reserved character
    counted as encoded: at least what an HTTP client sends)."""
    return len(quote(text, safe=""))


def or_chains(field: str, values: Iterable[str], room: int, size: int = MAX_OR_TERMS) -> Iterator[list[str]]:
    """`values` (deduplicated, in order) in chains of at most `size` whose `one_of(field, chain)`
    takes at most `room` characters encoded (`room`: what the rest of the query string leaves of
    MAX_QUERY_STRING). A value too long for any chain still goes, alone: the service's answer
    (an error) says so, rather than a value silently left out."""
    batch: list[str] = []
    parens = encoded_length("()")
    used = parens
    joint = encoded_length(" or ")
    for value in dict.fromkeys(values):
        term = encoded_length(eq(field, value))
        if batch and (len(batch) == size or used + joint + term > room):
            yield batch
            batch, used = [], parens
        used += term + (joint if batch else 0)
        batch.append(value)
    if batch:
        yield batch


def key_segment(keys: Mapping[str, str | int]) -> str:
    """`(dataAreaId='usrt',StoreNumber='0042')` — F&O addresses records by their natural key.

    Each literal is percent-encoded (`/`, `?`, `#`, `%`, `.` in a value cannot leave its segment):
    `'../../x?'` must not become `GET /x?…` with our bearer token. OData's ABNF allows `%27` for
    the quotes and requires percent-encoded literals in a URL
    (https://docs.oasis-open.org/odata/odata/v4.01/odata-v4.01-part2-url-conventions.html#sec_URLComponents);
    the names and `(`, `=`, `,`, `)` stay as they are (ABNF `EQ` has no encoded form)."""
    return "(" + ",".join(f"{segment(k)}={segment(literal(v))}" for k, v in keys.items()) + ")"

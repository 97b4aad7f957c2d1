"""The sandbox's internal request/response types and OData response helpers.

Handlers take a ``Req`` and return a ``Resp``; the same handlers serve plain HTTP and the
requests inside a ``$batch``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from .errors import GraphError

GRAPH_ROOT = "https://graph.microsoft.com/v1.0"


@dataclass
class Req:
    method: str
    path: str  # normalised, relative to the version root, e.g. "/teams/abc/members"
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any
    base: str  # absolute version root the client used, e.g. "http://127.0.0.1:8765/v1.0"
    params: dict[str, str] = field(default_factory=dict)
    template: str = ""

    def json_body(self) -> dict[str, Any]:
        if not isinstance(self.body, dict):
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        return self.body

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def prefers_representation(self) -> bool:
        return "return=representation" in (self.header("prefer") or "")


@dataclass
class Resp:
    status: int = 200
    body: Any = None  # dict/list -> JSON, str -> text/plain, None -> empty
    headers: dict[str, str] = field(default_factory=dict)


def public(data: dict[str, Any]) -> dict[str, Any]:
    """The object as Graph shows it: private ``_`` bookkeeping fields removed."""
    return {k: v for k, v in data.items() if not k.startswith("_")}


def select(data: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    """Apply ``$select`` (id and OData annotations are always kept, as Graph does)."""
    out = public(data)
    sel = query.get("$select")
    if not sel:
        return out
    wanted = {s.strip() for s in sel.split(",") if s.strip()}
    return {k: v for k, v in out.items() if k in wanted or k == "id" or k.startswith("@odata.")}


def entity(req: Req, context: str, data: dict[str, Any], status: int = 200) -> Resp:
    body = {"@odata.context": f"{req.base}/$metadata#{context}/$entity", **select(data, req.query)}
    return Resp(status, body)


def collection(
    req: Req,
    context: str,
    rows: list[tuple[int, dict[str, Any]]],
    page_size: int,
) -> Resp:
    """A page of a collection; ``rows`` holds up to ``page_size + 1`` rows to detect a next page."""
    items = rows[:page_size]
    body: dict[str, Any] = {"@odata.context": f"{req.base}/$metadata#{context}"}
    if len(rows) > page_size and items:
        body["@odata.nextLink"] = next_link(req, {"$skiptoken": encode_token({"after": items[-1][0]})})
    body["value"] = [select(d, req.query) for _, d in items]
    return Resp(200, body)


def next_link(req: Req, extra: dict[str, str]) -> str:
    from urllib.parse import urlencode

    q = {k: v for k, v in req.query.items() if k not in ("$skiptoken", "$deltatoken")}
    q.update(extra)
    query = urlencode(q, safe="$,()/':")
    return f"{req.base}{req.path}?{query}"


def encode_token(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any] | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (ValueError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def page_params(req: Req, default: int = 100, maximum: int = 999) -> tuple[int, int]:
    """``($top, after-cursor)`` from the query; ``$top`` above the maximum is a 400 as in Graph."""
    top = default
    if "$top" in req.query:
        try:
            top = int(req.query["$top"])
        except ValueError:
            raise GraphError(400, "BadRequest", "Invalid page size specified: '$top'.") from None
        if not 1 <= top <= maximum:
            # https://learn.microsoft.com/graph/paging : each API has its own maximum page size.
            raise GraphError(
                400,
                "Request_UnsupportedQuery",
                f"Invalid page size specified: '{top}'. Must be between 1 and {maximum} inclusive.",
            )
    after = 0
    if "$skiptoken" in req.query:
        tok = decode_token(req.query["$skiptoken"])
        if not tok or not isinstance(tok.get("after"), int):
            raise GraphError(
                400, "Directory_InvalidSkipToken", "The specified page token value has expired or is invalid."
            )
        after = tok["after"]
    return top, after

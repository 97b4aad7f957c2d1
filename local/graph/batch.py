"""JSON batching: https://learn.microsoft.com/graph/json-batching

At most 20 requests with unique ids (else the whole batch is a 400); ``dependsOn`` runs a request
after its dependencies and answers 424 when one failed; each inner request goes through the
normal pipeline (faults, per-request throttling, counters); responses come back in an order that
is not the request order (shuffled deterministically from the ids).
"""

from __future__ import annotations

import hashlib
import random
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .core import Router, Sandbox, normalise_path
from .errors import GraphError, error_body
from .wire import Req, Resp

MAX_REQUESTS = 20


def _inner(req: Req, item: dict[str, Any]) -> Req:
    url = str(item.get("url") or "")
    parts = urlsplit(url)
    path = parts.path
    for prefix in ("/v1.0", "/beta"):
        if path.startswith(prefix + "/"):
            path = path[len(prefix) :]
    headers = {k.lower(): str(v) for k, v in (item.get("headers") or {}).items()}
    return Req(
        method=str(item.get("method") or "GET").upper(),
        path=normalise_path(unquote(path)),
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers=headers,
        body=item.get("body"),
        base=req.base,
    )


def _failed_dependency(item_id: str) -> Resp:
    # A request whose dependency failed gets 424 Failed Dependency.
    return Resp(
        424,
        error_body(
            "FailedDependency",
            f"Request {item_id} was not run: a request it depends on failed.",
            "batch",
            None,
        ),
    )


async def run_batch(sb: Sandbox, req: Req) -> Resp:
    requests = req.json_body().get("requests")
    if not isinstance(requests, list) or not requests:
        raise GraphError(400, "BadRequest", "Invalid batch payload format.")
    if len(requests) > MAX_REQUESTS:
        raise GraphError(400, "BadRequest", f"Limit of {MAX_REQUESTS} requests per batch exceeded.")
    ids = [str(r.get("id")) for r in requests]
    if len(set(ids)) != len(ids) or any(not r.get("id") for r in requests):
        raise GraphError(400, "BadRequest", "Batch request ids must be present and unique.")
    known: set[str] = set()
    for r in requests:
        deps = r.get("dependsOn") or []
        if any(str(d) not in known for d in deps):
            raise GraphError(
                400,
                "BadRequest",
                f"Request {r['id']}: dependsOn must name requests that come before it in the batch.",
            )
        if any(str(r.get("url") or "").lstrip("/").startswith("$batch") for r in requests):
            raise GraphError(400, "BadRequest", "Nested batch requests are not supported.")
        known.add(str(r["id"]))
    results: dict[str, Resp] = {}
    for r in requests:
        rid = str(r["id"])
        if any(results[str(d)].status >= 400 for d in r.get("dependsOn") or []):
            results[rid] = _failed_dependency(rid)
            continue
        inner = _inner(req, r)
        if inner.body is not None and "content-type" not in inner.headers:
            results[rid] = Resp(
                400,
                error_body(
                    "BadRequest",
                    "Content-Type header must be specified when a request has a body.",
                    "batch",
                    None,
                ),
            )
            continue
        results[rid] = await sb.dispatch(inner)
    order = list(results)
    random.Random(hashlib.sha256("|".join(order).encode()).digest()).shuffle(order)
    responses = []
    for rid in order:
        resp = results[rid]
        item: dict[str, Any] = {"id": rid, "status": resp.status, "headers": dict(resp.headers)}
        if resp.body is not None:
            item["body"] = resp.body
            item["headers"].setdefault(
                "Content-Type", "application/json" if not isinstance(resp.body, str) else "text/plain"
            )
        responses.append(item)
    return Resp(200, {"responses": responses})


def register(router: Router) -> None:
    router.add("POST", "/$batch", run_batch)

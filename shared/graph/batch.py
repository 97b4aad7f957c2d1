"""JSON `$batch`: up to 20 requests per HTTP call, dependsOn, and per-request retries.

https://learn.microsoft.com/graph/json-batching: ids unique per batch; a body needs a
Content-Type header; responses come in any order; the outer status is 200 even when inner ones
fail; a request whose dependency failed gets 424; each inner request is throttled on its own, so
only the inner 429/503/504 are retried (after their Retry-After), never the whole batch.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from shared.coalesce import Coalesced
from shared.graph.client import GraphClient
from shared.graph.coalesce import MAX_BATCH
from shared.graph.errors import GraphError, from_body, parse_retry_after
from shared.graph.retry import THROTTLE_STATUSES, Sleep

_rng = random.Random()


@dataclass(frozen=True)
class BatchRequest:
    id: str
    method: str
    url: str  # relative to the version root, e.g. "/teams/{id}/channels"
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    retry_not_found: bool = False  # the target was just created and may not have replicated

    def wire(self) -> dict[str, Any]:
        item: dict[str, Any] = {"id": self.id, "method": self.method.upper(), "url": self.url}
        headers = dict(self.headers)
        if self.body is not None:
            item["body"] = self.body
            headers.setdefault("Content-Type", "application/json")
        if headers:
            item["headers"] = headers
        if self.depends_on:
            item["dependsOn"] = list(self.depends_on)
        return item


@dataclass(frozen=True)
class BatchResponse:
    id: str
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error(self) -> GraphError:
        return from_body(self.status, self.body, self.headers)

    def json(self) -> Any:
        """The body of a successful response; raises the typed error otherwise."""
        if not self.ok:
            raise self.error()
        return self.body


def chunk(requests: Sequence[BatchRequest], size: int = MAX_BATCH) -> list[list[BatchRequest]]:
    """Split into batches of ≤ size, keeping each dependsOn chain inside one batch."""
    ids = [r.id for r in requests]
    if len(set(ids)) != len(ids):
        raise ValueError("batch request ids must be unique")
    group_of: dict[str, int] = {}
    groups: list[list[BatchRequest]] = []
    for request in requests:
        targets = {group_of[d] for d in request.depends_on if d in group_of}
        if not targets:
            groups.append([request])
            group_of[request.id] = len(groups) - 1
            continue
        keep = min(targets)
        for other in sorted(targets - {keep}):
            for moved in groups[other]:
                group_of[moved.id] = keep
            groups[keep].extend(groups[other])
            groups[other] = []
        groups[keep].append(request)
        group_of[request.id] = keep
    batches: list[list[BatchRequest]] = []
    for group in (g for g in groups if g):
        if len(group) > size:
            raise ValueError(f"a dependsOn chain of {len(group)} requests does not fit one batch")
        if not batches or len(batches[-1]) + len(group) > size:
            batches.append([])
        batches[-1].extend(group)
    return batches


async def run_batch(
    client: GraphClient,
    requests: Iterable[BatchRequest],
    *,
    sleep: Sleep = asyncio.sleep,
    not_found_attempts: int = 4,
    not_found_delay: float = 1.0,
    version: str = "v1.0",
) -> dict[str, BatchResponse]:
    """Send `requests` in as few $batch calls as allowed; returns every response by id. Items are
    relative to the `version` root: a beta call goes in a `/beta/$batch` (one batch cannot mix
    versions: https://learn.microsoft.com/graph/json-batching)."""
    pending = list(requests)
    policy = client.transport.policy
    results: dict[str, BatchResponse] = {}
    throttled_rounds = 0
    missing_rounds = 0
    waited = 0.0
    while pending:
        for part in chunk(pending):
            results.update(await _send(client, part, version))
        by_id = {r.id: r for r in pending}
        throttled = [r for r in pending if results[r.id].status in THROTTLE_STATUSES]
        missing = [r for r in pending if results[r.id].status == 404 and r.retry_not_found]
        retry = {r.id for r in throttled} | {r.id for r in missing}
        # A request that got 424 because a retried dependency failed goes again with it.
        retry |= {r.id for r in pending if results[r.id].status == 424 and set(r.depends_on) & retry}
        if not retry:
            break
        if throttled:
            throttled_rounds += 1
            delays = [parse_retry_after(results[r.id].headers.get("Retry-After")) for r in throttled]
            delay = max((d for d in delays if d is not None), default=policy.backoff(throttled_rounds, _rng))
        else:
            delay = not_found_delay
        if missing:
            missing_rounds += 1
        if (
            throttled_rounds > policy.max_retries
            or missing_rounds >= not_found_attempts
            or waited + delay > policy.max_total_wait
        ):
            break
        waited += delay
        await sleep(delay)
        pending = [by_id[i] for i in by_id if i in retry]
    return results


async def _send(client: GraphClient, part: list[BatchRequest], version: str) -> dict[str, BatchResponse]:
    """One part's answers; parts sent at about the same time on this client share `$batch` calls
    (`BatchPipe`)."""
    pipe: BatchPipe | None = client.batch_pipes.get(version)
    if pipe is None:
        pipe = client.batch_pipes[version] = BatchPipe(client, version)
    return await pipe.send(part)


class BatchPipe:
    """`$batch` parts of concurrent callers share HTTP calls: the small-write batch of each of a
    reconciliation batch's 25 passes (one POST /planner/plans each) goes out as one or two calls
    of up to 20 requests, not 25 (shared/coalesce.py: a part waits at most 5 ms for company
    and is never split). Ids are made unique per call (`<part>.<id>`, dependsOn likewise) and
    given back. What throttling and retries do stays per request and per caller (`run_batch`); a
    call that fails as a whole fails every part in it, as it would have failed each alone."""

    def __init__(self, client: GraphClient, version: str) -> None:
        self._client, self._version = client, version
        self._requests: dict[str, BatchRequest] = {}
        self._parts = 0
        self._coalesced: Coalesced[BatchResponse] = Coalesced(self._post, size=MAX_BATCH)

    async def send(self, part: list[BatchRequest]) -> dict[str, BatchResponse]:
        self._parts += 1
        ids = {r.id: f"{self._parts}.{r.id}" for r in part}
        for r in part:
            self._requests[ids[r.id]] = replace(
                r, id=ids[r.id], depends_on=tuple(ids.get(d, d) for d in r.depends_on)
            )
        try:
            got = await self._coalesced.get(list(ids.values()))
        finally:
            for key in ids.values():
                self._requests.pop(key, None)
        return {
            mine: replace(got[key], id=mine) if key in got else BatchResponse(id=mine, status=500)
            for mine, key in ids.items()
        }

    async def _post(self, keys: list[str]) -> dict[str, BatchResponse]:
        part = [self._requests[k] for k in keys if k in self._requests]  # a cancelled caller's are gone
        return await _post(self._client, part, self._version) if part else {}


async def _post(client: GraphClient, part: list[BatchRequest], version: str) -> dict[str, BatchResponse]:
    url = "$batch" if version == "v1.0" else f"{client.root(version)}/$batch"
    data, _ = await client.call("POST", url, {"requests": [r.wire() for r in part]})
    out: dict[str, BatchResponse] = {}
    for item in (data or {}).get("responses", []):
        headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
        out[str(item["id"])] = BatchResponse(
            id=str(item["id"]), status=int(item["status"]), body=item.get("body"), headers=headers
        )
    for request in part:  # Graph answers every id; be defensive about a sandbox that does not
        out.setdefault(request.id, BatchResponse(id=request.id, status=500, body=None))
    return out

"""The gateway's retry policy and error mapping, over httpx.MockTransport (no server)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from shared.graph import Conflict, GraphUnavailable, NotFound, PlannerLimitExceeded, ServerError, Throttled
from shared.graph.batch import BatchRequest, chunk, run_batch
from shared.graph.client import StaticTokenCredential, build_client
from shared.graph.errors import from_sdk
from shared.graph.retry import RetryingTransport, RetryPolicy, retry_not_found
from shared.settings import GraphSettings

BASE = "https://graph.example.test/v1.0"


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def scripted(statuses: list[tuple[int, dict[str, str]]], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status, headers = statuses[min(len(seen) - 1, len(statuses) - 1)]
        body = (
            {"value": []}
            if status < 400
            else {"error": {"code": f"E{status}", "message": "m", "innerError": {"request-id": "rid-1"}}}
        )
        return httpx.Response(status, headers=headers, json=body)

    return httpx.MockTransport(handler)


def client_with(handler: Callable[[httpx.Request], httpx.Response], sleeps: Sleeps, **settings: object):  # type: ignore[no-untyped-def]
    graph = GraphSettings(base_url=BASE, auth="static_token", static_token="t", **settings)  # type: ignore[arg-type]
    return build_client(
        graph, StaticTokenCredential("t"), sleep=sleeps, transport=httpx.MockTransport(handler)
    )


async def test_throttled_request_waits_for_retry_after_then_succeeds() -> None:
    seen: list[httpx.Request] = []
    sleeps = Sleeps()
    transport = RetryingTransport(
        scripted([(429, {"Retry-After": "2"}), (429, {"Retry-After": "3"}), (200, {})], seen),
        RetryPolicy(),
        sleep=sleeps,
    )
    async with httpx.AsyncClient(transport=transport) as http:
        response = await http.get(f"{BASE}/users")
    assert response.status_code == 200
    assert sleeps.calls == [2.0, 3.0]
    assert transport.stats.retries == 2 and transport.stats.sent == 3


async def test_503_without_retry_after_backs_off_exponentially_with_jitter() -> None:
    seen: list[httpx.Request] = []
    sleeps = Sleeps()
    policy = RetryPolicy(max_retries=4, base_delay=1.0, max_delay=30.0)
    transport = RetryingTransport(scripted([(503, {})] * 4 + [(200, {})], seen), policy, sleep=sleeps)
    async with httpx.AsyncClient(transport=transport) as http:
        assert (await http.get(f"{BASE}/users")).status_code == 200
    for attempt, slept in enumerate(sleeps.calls, start=1):
        cap = min(30.0, 2 ** (attempt - 1))
        assert cap / 2 <= slept <= cap


async def test_retry_budget_is_bounded_by_count_and_total_wait() -> None:
    seen: list[httpx.Request] = []
    sleeps = Sleeps()
    transport = RetryingTransport(
        scripted([(429, {"Retry-After": "1"})], seen),
        RetryPolicy(max_retries=3, max_total_wait=60),
        sleep=sleeps,
    )
    async with httpx.AsyncClient(transport=transport) as http:
        assert (await http.get(f"{BASE}/users")).status_code == 429
    assert len(seen) == 4 and sleeps.calls == [1.0, 1.0, 1.0]

    seen.clear()
    sleeps.calls.clear()
    transport = RetryingTransport(
        scripted([(429, {"Retry-After": "100"})], seen),
        RetryPolicy(max_retries=6, max_total_wait=60),
        sleep=sleeps,
    )
    async with httpx.AsyncClient(transport=transport) as http:
        assert (await http.get(f"{BASE}/users")).status_code == 429
    assert len(seen) == 1 and sleeps.calls == []  # waiting 100 s would exceed the 60 s budget


async def test_500_is_retried_for_reads_but_never_for_post_teams() -> None:
    for method, path, expected_sends in (("GET", "/teams/x", 3), ("POST", "/teams", 1)):
        seen: list[httpx.Request] = []
        transport = RetryingTransport(
            scripted([(500, {}), (500, {}), (200, {})], seen), RetryPolicy(), sleep=Sleeps()
        )
        async with httpx.AsyncClient(transport=transport) as http:
            await http.request(method, f"{BASE}{path}")
        assert len(seen) == expected_sends, method


async def test_full_stack_maps_exhausted_throttling_to_throttled_with_request_id() -> None:
    sleeps = Sleeps()
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(
            429,
            headers={"Retry-After": "1"},
            json={
                "error": {
                    "code": "TooManyRequests",
                    "message": "slow down",
                    "innerError": {"request-id": "abc"},
                }
            },
        )

    client = client_with(handler, sleeps, max_retries=2)
    with pytest.raises(Throttled) as caught:
        await client.call("GET", "users/ann@contoso.com")
    assert caught.value.status == 429 and caught.value.code == "TooManyRequests"
    assert caught.value.request_id == "abc" and caught.value.retry_after == 1.0
    assert len(calls) == 3  # kiota's own RetryHandler is not in the chain: no 3 x 3 multiplication
    assert calls[0].headers["Authorization"] == "Bearer t"


async def test_sdk_errors_become_typed_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/teams/missing"):
            return httpx.Response(404, json={"error": {"code": "NotFound", "message": "No team found"}})
        if request.url.path.endswith("/planner/tasks"):
            return httpx.Response(403, json={"error": {"code": "MaximumTasksInProject", "message": "full"}})
        return httpx.Response(409, json={"error": {"code": "NameAlreadyExists", "message": "dup"}})

    client = client_with(handler, Sleeps())
    with pytest.raises(Exception) as raw:  # the SDK itself raises ODataError
        await client.service.teams.by_team_id("missing").get()
    mapped = from_sdk(raw.value)
    assert isinstance(mapped, NotFound) and mapped.code == "NotFound" and mapped.status == 404
    with pytest.raises(PlannerLimitExceeded):
        await client.call("POST", "planner/tasks", {"planId": "p", "title": "t"})
    with pytest.raises(Conflict):
        await client.call("POST", "teams/t/channels", {"displayName": "x"})


async def test_dropped_connections_become_graph_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    sleeps = Sleeps()
    client = client_with(handler, sleeps, max_retries=2)
    with pytest.raises(GraphUnavailable):
        await client.call("GET", "users")
    assert len(sleeps.calls) == 2


async def test_server_error_after_retries_is_server_error() -> None:
    client = client_with(
        lambda r: httpx.Response(502, json={"error": {"code": "BadGateway", "message": "x"}}),
        Sleeps(),
        max_retries=1,
    )
    with pytest.raises(ServerError):
        await client.call("GET", "users")


async def test_not_found_right_after_creation_is_retried_a_few_times() -> None:
    attempts: list[int] = []
    sleeps = Sleeps()

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise NotFound("not yet", status=404)
        return "ok"

    assert await retry_not_found(flaky, sleep=sleeps) == "ok"
    assert len(attempts) == 3 and len(sleeps.calls) == 2


def test_chunks_hold_at_most_20_and_keep_dependency_chains_together() -> None:
    requests = [BatchRequest(str(i), "GET", f"/users/{i}") for i in range(19)]
    requests += [BatchRequest("a", "GET", "/a"), BatchRequest("b", "GET", "/b", depends_on=("a",))]
    parts = chunk(requests)
    assert [len(p) for p in parts] == [19, 2]
    assert len(chunk([BatchRequest(str(i), "GET", "/x") for i in range(45)])) == 3
    with pytest.raises(ValueError):
        chunk([BatchRequest("x", "GET", "/a"), BatchRequest("x", "GET", "/b")])


async def test_batch_retries_only_the_throttled_inner_requests() -> None:
    sent: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        ids = [r["id"] for r in json.loads(request.content)["requests"]]
        sent.append([i.rpartition(".")[2] for i in ids])  # on the wire: "<part>.<id>" (BatchPipe)
        first = len(sent) == 1
        responses = [
            {
                "id": i,
                "status": 429 if first and i.endswith(".1") else 200,
                "headers": {"Retry-After": "2"} if first else {},
                "body": {"id": i},
            }
            for i in ids
        ]
        return httpx.Response(200, json={"responses": list(reversed(responses))})

    sleeps = Sleeps()
    client = client_with(handler, sleeps)
    results = await run_batch(
        client, [BatchRequest(str(i), "GET", f"/users/{i}") for i in range(3)], sleep=sleeps
    )
    assert sent == [["0", "1", "2"], ["1"]] and sleeps.calls == [2.0]
    assert all(r.ok for r in results.values())

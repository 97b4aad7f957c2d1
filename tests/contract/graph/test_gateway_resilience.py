"""$batch, throttling, delta and subscriptions through the gateway against the Graph sandbox."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.domain.teams import MemberRole
from shared.graph import BatchRequest, FailedDependency, Gateway


async def test_batch_dependency_failure_is_424(gateway: Gateway, people: list[dict[str, Any]]) -> None:
    results = await gateway.batch(
        [
            BatchRequest("a", "GET", "/teams/33333333-3333-3333-3333-333333333333"),
            BatchRequest("b", "GET", f"/users/{people[0]['id']}", depends_on=("a",)),
            BatchRequest("c", "GET", f"/users/{people[1]['id']}"),
        ]
    )
    assert (results["a"].status, results["b"].status, results["c"].status) == (404, 424, 200)
    assert isinstance(results["b"].error(), FailedDependency)
    assert results["c"].json()["id"] == people[1]["id"]


async def test_concurrent_batches_share_calls_and_keep_their_own_ids_and_dependencies(
    gateway: Gateway, sandbox: Any, people: list[dict[str, Any]]
) -> None:
    """12 callers, each with the same ids and a dependsOn chain: 24 requests go in 2 calls (20 is
    Graph's limit), each caller gets its own answers under its own ids, and a failed dependency
    fails only its own caller's dependent."""
    import asyncio

    def part(n: int) -> list[BatchRequest]:
        first = f"/users/{people[n]['id']}" if n != 5 else "/teams/33333333-3333-3333-3333-333333333333"
        return [
            BatchRequest("a", "GET", first),
            BatchRequest("b", "GET", f"/users/{people[n + 100]['id']}", depends_on=("a",)),
        ]

    sandbox.reset_counters()
    answers = await asyncio.gather(*(gateway.batch(part(n)) for n in range(12)))
    assert int(sandbox.counters()["requests"]["POST /$batch"]["200"]) == 2
    for n, got in enumerate(answers):
        assert set(got) == {"a", "b"} and all(r.id in ("a", "b") for r in got.values())
        if n == 5:
            assert (got["a"].status, got["b"].status) == (404, 424)
        else:
            assert got["a"].json()["id"] == people[n]["id"] and got["b"].json()["id"] == people[n + 100]["id"]


async def test_throttled_requests_are_retried_after_retry_after(
    gateway: Gateway, sandbox: Any, people: list[dict[str, Any]]
) -> None:
    team_id = await gateway.create_team(display_name="Store 0301", owner_id=people[0]["id"])
    sandbox.reset_counters()
    sandbox.set_faults("GET /teams/{id}/members", throttle_ratio=0.6, retry_after=0.05, seconds=30)
    sandbox.set_faults("GET /users", throttle_ratio=0.3, retry_after=0.05, seconds=30)
    try:
        before, slept_before = gateway.stats.retries, gateway.stats.slept
        for _ in range(3):
            assert [m.user_id for m in await gateway.list_members(team_id)] == [people[0]["id"]]
        found = await gateway.resolve_upns([p["userPrincipalName"] for p in people[:300]])  # 20 requests
    finally:
        sandbox.clear_faults()
    assert len(found) == 300  # inner $batch 429s were retried on their own
    counters = sandbox.counters()["requests"]
    assert int(counters["GET /teams/{id}/members"].get("429", 0)) > 0
    assert int(counters["GET /users"].get("429", 0)) > 0
    retries = gateway.stats.retries - before
    assert retries == int(counters["GET /teams/{id}/members"]["429"])
    assert gateway.stats.slept - slept_before >= retries * 1.0  # the sandbox says Retry-After: 1


class _Receiver(BaseHTTPRequestHandler):
    validations: list[str] = []
    notifications: list[bytes] = []

    def do_POST(self) -> None:
        token = parse_qs(urlsplit(self.path).query).get("validationToken")
        if token:  # Graph's handshake: echo the decoded token as text/plain within 10 s
            type(self).validations.append(token[0])
            body = token[0].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        type(self).notifications.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.validations = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_subscription_lifecycle_with_validation_handshake(gateway: Gateway, receiver: str) -> None:
    expiry = datetime.now(UTC) + timedelta(hours=48)
    sub = await gateway.create_subscription(
        resource="/teams/getAllMembers",
        change_type="created,updated,deleted",
        notification_url=f"{receiver}/notify",
        lifecycle_notification_url=f"{receiver}/lifecycle",
        expiration=expiry,
        client_state="s3cret",
    )
    assert len(_Receiver.validations) == 2  # notificationUrl and lifecycleNotificationUrl
    assert sub.client_state == "s3cret" and sub.resource == "/teams/getAllMembers"
    renewed = await gateway.renew_subscription(sub.subscription_id, expiry + timedelta(hours=12))
    assert renewed.expiration > sub.expiration
    assert sub.subscription_id in [s.subscription_id for s in await gateway.list_subscriptions()]
    await gateway.delete_subscription(sub.subscription_id)
    assert sub.subscription_id not in [s.subscription_id for s in await gateway.list_subscriptions()]


async def test_groups_delta_reports_member_changes_and_expired_tokens(
    gateway: Gateway, sandbox: Any, people: list[dict[str, Any]]
) -> None:
    team_id = await gateway.create_team(display_name="Store 0302", owner_id=people[0]["id"])
    await gateway.add_members(team_id, [(people[5]["id"], MemberRole.MEMBER)])
    first = await gateway.groups_delta(group_ids=[team_id])
    assert team_id in first.changed_group_ids and first.delta_link
    sandbox.act("remove-member", teamId=team_id, userId=people[5]["id"])
    second = await gateway.groups_delta(first.delta_link)
    assert any(
        c.group_id == team_id and c.user_id == people[5]["id"] and c.removed for c in second.member_changes
    )
    assert second.delta_link
    sandbox.expire_delta_tokens()
    assert (await gateway.groups_delta(second.delta_link)).resync_required

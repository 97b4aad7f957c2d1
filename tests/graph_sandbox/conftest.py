"""Fixtures: a running Graph sandbox, seeded users, an httpx client and a real msgraph-sdk client;
and a webhook endpoint that receives the sandbox's notifications (`Receiver`)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from azure.core.credentials import AccessToken
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph_core import GraphClientFactory

from local.graph.testing import GraphSandbox, running_graph_sandbox

TEMPLATE = "https://graph.microsoft.com/v1.0/teamsTemplates('standard')"


class StaticTokenCredential:
    """The smallest azure.core TokenCredential: always the sandbox's token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture
def graph(tmp_path: Any) -> Iterator[GraphSandbox]:
    with running_graph_sandbox(
        tmp_path / "graph.sqlite", scale=0.05, async_delay=1.0, throttle=False
    ) as sandbox:
        yield sandbox


@pytest.fixture
def users(graph: GraphSandbox) -> list[dict[str, Any]]:
    return graph.seed_users(
        [
            {
                "userPrincipalName": f"user{i}@contoso.com",
                "displayName": f"User {i}",
                "mail": f"user{i}@contoso.com",
                "employeeId": f"{i:06d}",
            }
            for i in range(1, 26)
        ]
    )


@pytest.fixture
def http(graph: GraphSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=graph.base_url, headers=graph.auth_headers, timeout=10) as client:
        yield client


@pytest.fixture
async def sdk(graph: GraphSandbox) -> AsyncIterator[GraphServiceClient]:
    auth = AzureIdentityAuthenticationProvider(
        StaticTokenCredential(graph.token),
        scopes=["https://graph.microsoft.com/.default"],
        allowed_hosts=["127.0.0.1"],
    )
    client = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(base_url=graph.base_url)
    )
    adapter = GraphRequestAdapter(auth, client)
    adapter.base_url = graph.base_url
    yield GraphServiceClient(request_adapter=adapter)
    await client.aclose()


def member(user_id: str, owner: bool = False) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.aadUserConversationMember",
        "roles": ["owner"] if owner else [],
        "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{user_id}')",
    }


def create_team(http: httpx.Client, name: str, owner_id: str, *, wait: bool = True) -> str:
    resp = http.post(
        "/teams",
        json={"template@odata.bind": TEMPLATE, "displayName": name, "members": [member(owner_id, True)]},
    )
    assert resp.status_code == 202, resp.text
    team_id = resp.headers["content-location"].split("'")[1]
    if wait:
        deadline = time.monotonic() + 5
        while http.get(resp.headers["location"]).json()["status"] != "succeeded":
            assert time.monotonic() < deadline
            time.sleep(0.005)
    return team_id


class Receiver:
    """A tiny webhook endpoint: echoes validation tokens, records notifications."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.validations = 0
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if "validationToken" in query:
                    receiver.validations += 1
                    token = query["validationToken"][0].encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(token)))
                    self.end_headers()
                    self.wfile.write(token)
                    return
                if receiver.fail_next:
                    receiver.fail_next -= 1
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                receiver.received.extend(json.loads(body)["value"])
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/notify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()

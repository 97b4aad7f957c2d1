"""Run the Graph sandbox in a background thread for tests, with helpers for its side channel.

with running_graph_sandbox(tmp_path / "graph.sqlite", scale=0.01) as graph:
    graph.seed_users([{"userPrincipalName": "ann@contoso.com", "displayName": "Ann"}])
    client = httpx.Client(base_url=graph.base_url, headers={"Authorization": f"Bearer {graph.token}"})
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from .core import Sandbox
from .server import create_app


class GraphSandbox:
    """A running sandbox: its URLs, token, and the side channel (``/_sandbox``) as methods."""

    def __init__(self, root_url: str, token: str, sandbox: Sandbox) -> None:
        self.root_url = root_url  # e.g. "http://127.0.0.1:PORT"
        self.base_url = f"{root_url}/v1.0"
        self.beta_url = f"{root_url}/beta"
        self.token = token
        self.sandbox = sandbox  # in-process core, for debugging only; use the HTTP API in tests
        self._http = httpx.Client(base_url=f"{root_url}/_sandbox", timeout=30)

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _call(self, method: str, path: str, json: Any = None, **params: Any) -> Any:
        resp = self._http.request(method, path, json=json, params=params or None)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def seed_users(self, users: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert/update users; returns them with their ids (GUIDs generated where missing)."""
        return list(self._call("POST", "/seed", {"users": users})["users"])

    def counters(self) -> dict[str, Any]:
        """Requests by ``"METHOD /template"`` and status, ``totals``, ``throttled``, ``notifications``."""
        return dict(self._call("GET", "/counters"))

    def reset_counters(self) -> None:
        self._call("POST", "/reset-counters")

    def set_faults(
        self,
        route: str = "*",
        *,
        status: int = 0,
        error_rate: float | None = None,
        throttle_ratio: float = 0.0,
        latency_ms: float = 0.0,
        retry_after: float = 1.0,
        seconds: float = 60.0,
    ) -> dict[str, Any]:
        """Inject faults on ``route`` ("*", "/teams/{id}/members/add" or "POST /teams") for ``seconds``."""
        spec: dict[str, Any] = {
            "route": route, "status": status, "throttle_ratio": throttle_ratio,
            "latency_ms": latency_ms, "retry_after": retry_after, "seconds": seconds,
        }  # fmt: skip
        if error_rate is not None:
            spec["error_rate"] = error_rate
        return dict(self._call("POST", "/faults", spec)["faults"][0])

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def act(self, action: str, **payload: Any) -> dict[str, Any]:
        """Act as a person: ``act("remove-member", teamId=..., userId=...)``; actions in ``act.py``."""
        return dict(self._call("POST", f"/act/{action}", payload))

    def lifecycle(self, subscription_id: str, event: str = "reauthorizationRequired") -> dict[str, Any]:
        return dict(
            self._call("POST", "/lifecycle", {"subscriptionId": subscription_id, "lifecycleEvent": event})
        )

    def expire_delta_tokens(self) -> None:
        self._call("POST", "/expire-delta-tokens")

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until pending notification deliveries (and their retries) have finished."""
        self._call("POST", "/drain", timeout=timeout)

    def state(self) -> dict[str, Any]:
        return dict(self._call("GET", "/state"))

    def close(self) -> None:
        self._http.close()


@contextmanager
def running_graph_sandbox(
    db_path: str | os.PathLike[str], **create_app_kwargs: Any
) -> Iterator[GraphSandbox]:
    """Serve ``create_app(db_path, **kwargs)`` with uvicorn on 127.0.0.1 (free port) in a thread."""
    app = create_app(str(db_path), **create_app_kwargs)
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted sockets whose proto says TCP;
    # without it every response on a kept-alive connection waits ~40 ms (Nagle + delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle + delayed-ACK 40 ms stalls
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"graph-sandbox-{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("Graph sandbox did not start")
        time.sleep(0.01)
    sandbox = GraphSandbox(
        f"http://127.0.0.1:{port}", create_app_kwargs.get("token", "sandbox-token"), app.state.sandbox
    )
    try:
        yield sandbox
    finally:
        sandbox.close()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

"""Run the Commerce sandbox for tests and tools: uvicorn in a thread on a free 127.0.0.1 port.

    with running_commerce_sandbox(tmp_path / "commerce.sqlite", org=SAMPLE_ORG) as commerce:
        commerce.change("close_store", store="0042")
        client = CommerceClient.for_sandbox(commerce.base_url, commerce.token)

The `sender` (if any) is called on the sandbox thread's event loop.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from local.commerce.server import Sandbox, create_app
from shared.bus.protocol import OutgoingMessage


class RecordingSender:
    """A `BusSender` that keeps every message: for tests of the sandbox's own publishing."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, OutgoingMessage]] = []

    async def send(self, entity: str, messages: Sequence[OutgoingMessage]) -> None:
        self.sent.extend((entity, m) for m in messages)

    def clear(self) -> None:
        self.sent.clear()


class CommerceSandboxHandle:
    """A running sandbox: its address, its token, and the side channel as methods."""

    def __init__(self, base_url: str, token: str, sandbox: Sandbox) -> None:
        self.base_url = base_url
        self.token = token
        self.sandbox = sandbox
        self._http = httpx.Client(base_url=base_url + "/_sandbox/", timeout=30)

    def _call(self, method: str, action: str, body: Any = None) -> Any:
        response = self._http.request(method, action, json=body)
        if response.status_code >= 400:
            raise RuntimeError(f"commerce sandbox {action}: {response.status_code} {response.text}")
        return response.json()

    def seed(self, org: dict[str, Any]) -> None:
        self._call("POST", "seed", org)

    def change(self, verb: str, **args: Any) -> int:
        """One scenario change, e.g. change("hire_worker", worker={...}, store="0042", role="worker").
        Returns the number of messages it produced."""
        return int(self._call("POST", "changes", {"commerce": verb, **args})["events"])

    def apply(self, step: dict[str, Any] | list[dict[str, Any]]) -> int:
        """Scenario step(s) as written in a scenario file (`commerce` or `fault` steps)."""
        return int(self._call("POST", "changes", step)["events"])

    def set_faults(self, **cfg: Any) -> None:
        """throttle_ratio, error_ratio, error_status, retry_after (s), seconds (duration)."""
        self._call("POST", "faults", cfg)

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def configure_events(self, **cfg: Any) -> None:
        """duplicate_factor, shuffle_window, delay_seconds, shuffle_flush_seconds, format,
        events_on_api_writes."""
        self._call("POST", "events/config", cfg)

    def send_test_message(self) -> None:
        self._call("POST", "events/test-message")

    def flush_events(self) -> None:
        self._call("POST", "events/flush")

    def events(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "events")["events"])

    def task_statuses(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "task-statuses")["value"])

    def counters(self) -> dict[str, int]:
        return dict(self._call("GET", "counters")["requests"])

    def reset_counters(self) -> None:
        self._call("DELETE", "counters")

    def close(self) -> None:
        self._http.close()


@contextmanager
def running_commerce_sandbox(
    db_path: str | Path, *, host: str = "127.0.0.1", port: int = 0, **kw: Any
) -> Iterator[CommerceSandboxHandle]:
    """Start the sandbox (keyword arguments go to `create_app`), yield a handle, stop it."""
    app = create_app(db_path, **kw)
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted sockets whose proto says TCP;
    # without it every response on a kept-alive connection waits ~40 ms (Nagle + delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="commerce-sandbox"
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the Commerce sandbox did not start")
        time.sleep(0.01)
    bound = sock.getsockname()[1]
    handle = CommerceSandboxHandle(
        f"http://{host}:{bound}", kw.get("token", "sandbox-token"), app.state.sandbox
    )
    try:
        yield handle
    finally:
        handle.close()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        app.state.sandbox.db.close()

"""Run the Dataverse sandbox for tests and tools: uvicorn in a thread on a free 127.0.0.1 port.

with running_dataverse_sandbox(sender=bus) as dv:
    dv.seed({"account": [{"accountid": "…", "name": "Contoso"}]})
    client = DataverseClient.for_sandbox(dv.base_url, dv.token)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from local.dataverse.server import Dataverse, create_app


class DataverseSandboxHandle:
    def __init__(self, base_url: str, token: str, dataverse: Dataverse) -> None:
        self.base_url = base_url
        self.token = token
        self.dataverse = dataverse
        self._http = httpx.Client(base_url=base_url + "/_sandbox/", timeout=30)

    def _call(self, method: str, action: str, body: Any = None) -> Any:
        response = self._http.request(method, action, json=body)
        if response.status_code >= 400:
            raise RuntimeError(f"dataverse sandbox {action}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def seed(self, org: dict[str, Any]) -> None:
        self._call("POST", "seed", org)

    def change(self, verb: str, table: str, id: str | None = None, **values: Any) -> dict[str, Any]:
        return dict(self._call("POST", "change", {"verb": verb, "table": table, "id": id, "values": values}))

    def set_faults(self, **cfg: Any) -> None:
        self._call("POST", "faults", cfg)

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def set_limits(self, **cfg: Any) -> None:
        """scale (window = 300 s x scale), requests (6,000), concurrency (52)."""
        self._call("POST", "limits", cfg)

    def configure_events(self, **cfg: Any) -> None:
        self._call("POST", "events", cfg)

    def events(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "events")["events"])

    def flush_events(self) -> None:
        self._call("POST", "flush")

    def counters(self) -> dict[str, int]:
        return dict(self._call("GET", "counters")["requests"])

    def reset_counters(self) -> None:
        self._call("DELETE", "counters")

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        return dict(self._call("GET", "dump"))

    def close(self) -> None:
        self._http.close()


@contextmanager
def running_dataverse_sandbox(
    *, host: str = "127.0.0.1", port: int = 0, **kw: Any
) -> Iterator[DataverseSandboxHandle]:
    app = create_app(**kw)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY: see commerce
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="dataverse-sandbox"
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the Dataverse sandbox did not start")
        time.sleep(0.01)
    handle = DataverseSandboxHandle(
        f"http://{host}:{sock.getsockname()[1]}", kw.get("token", "sandbox-token"), app.state.dataverse
    )
    try:
        yield handle
    finally:
        handle.close()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

"""A local host in a child process (`python -m local.host`), for shutdown and crash tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).parents[2]

# What the Functions host needs from every app with non-HTTP triggers or Service Bus bindings
# (local.host.conformance.required_settings_problems / service_bus_connection_problem).
HOST_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME": "python",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "ServiceBusConnection": "Endpoint=sb://127.0.0.1/;SharedAccessKeyName=local;SharedAccessKey=local",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HostProcess:
    def __init__(
        self,
        app: Path,
        data: Path,
        port: int,
        settings: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.app, self.data, self.port = app, data, port
        self.settings = {**HOST_SETTINGS, **(settings or {})}
        self.extra_args = extra_args or []
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data / "host-process.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        args = [
            sys.executable,
            "-m",
            "local.host",
            "--app",
            str(self.app),
            "--port",
            str(self.port),
            "--data",
            str(self.data),
            "--grace",
            "5",
            *self.extra_args,
        ]
        for key, value in self.settings.items():
            args += ["--setting", f"{key}={value}"]
        self.data.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            args, cwd=self.app.parent, stdout=out, stderr=subprocess.STDOUT, env=env
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"host exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}"
                )
            try:
                if httpx.get(self.base_url + "/", timeout=1).json().get("state") == "Running":
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.05)
        raise TimeoutError(f"host did not start:\n{self.log.read_text()[-3000:]}")

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

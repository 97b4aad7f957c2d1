"""Azurite's Table service (the Azure Storage emulator, from node_modules: `npm ci`) on a free
127.0.0.1 port, in memory, for the Azure Tables state backend's contract tests and the bench:

with running_azurite_tables() as connection_string:
    backend = TableBackend.from_connection_string(connection_string)
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AZURITE_TABLE = ROOT / "node_modules" / ".bin" / "azurite-table"
# Azurite's published development account key (a documented constant, not a secret).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class AzuriteMissing(RuntimeError):
    """Azurite (or node) is not installed: `npm ci` (make test and make bench run it)."""


def installed() -> bool:
    return AZURITE_TABLE.exists() and shutil.which("node") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_azurite_tables(start_timeout: float = 30.0) -> Iterator[str]:
    """Start Azurite's Table service; yield its connection string; stop it."""
    if not installed():
        raise AzuriteMissing("Azurite is not installed: run `npm ci` (make test runs it)")
    port = _free_port()
    proc = subprocess.Popen(
        [str(AZURITE_TABLE), "--tableHost", "127.0.0.1", "--tablePort", str(port), "--skipApiVersionCheck",
         "--disableProductStyleUrl", "--silent", "--inMemoryPersistence"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None:
                raise RuntimeError(f"Azurite exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Azurite did not start within {start_timeout:.0f} s")
            time.sleep(0.1)
        yield (
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={ACCOUNT_KEY};"
            f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
